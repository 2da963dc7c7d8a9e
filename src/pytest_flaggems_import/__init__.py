"""Screen generated Triton operators with pytest and import the good ones into FlagGems."""

__version__ = "0.1.0"
