"""The version, apart from the package's __init__ so any stage can name it (the helper image's
tag) without importing the public API."""

__version__ = "0.1.0"
