"""Knowledge base: entity names and aliases (see README.md)."""
