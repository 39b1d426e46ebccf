"""tipdata: one trafficking-in-persons codebook compiled for the platforms agencies already run."""

__version__ = "0.1.0"
