"""Stand-in for FlagGems' ``tests`` package: what ``from . import accuracy_utils as utils`` finds
when a FlagGems-style test is screened without a FlagGems checkout (docs/isolation.md)."""
