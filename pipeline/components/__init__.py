"""Registered spaCy factories and functions, one job each. Importing this package registers them."""
from pipeline.components import labels, lemmas, persons, rulers, sentences  # noqa: F401
