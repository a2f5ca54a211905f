"""The release version, in a module of its own so any layer can read it without importing the
package's lazy public API (`greenh2/__init__.py`)."""
__version__ = "0.1.0"
