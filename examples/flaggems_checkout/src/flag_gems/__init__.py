"""Skeleton of a FlagGems checkout for the demo: only the folders the importer writes to.

A real checkout holds all of FlagGems; the importer needs no more than ``src/flag_gems`` and,
when present, ``experimental/generated/`` (the seed's layout) or ``experimental_ops/``.
"""
