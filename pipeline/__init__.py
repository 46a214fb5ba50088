"""Turn English and Italian football news about coaches into entity-relation triples."""

__version__ = "0.1.0"
