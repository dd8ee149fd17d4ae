"""The package version: a leaf module, so every layer can record it without importing the package's facade."""

__version__ = "0.1.0"
