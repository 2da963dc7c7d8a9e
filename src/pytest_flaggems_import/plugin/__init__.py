"""The pytest layer: the only package that imports pytest."""
