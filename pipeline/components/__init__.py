"""Registered spaCy factories, one job each. Importing this package registers them."""
from pipeline.components import lemmas, sentences, labels, persons  # noqa: F401
