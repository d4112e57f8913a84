"""The engine's version, recorded in every vector's and export's lineage."""

__version__ = "0.1.0"
