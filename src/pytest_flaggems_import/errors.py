"""Errors the tool raises on purpose, and the exit statuses they map to (SPEC §6).

Imports nothing beyond the standard library, so every layer can use it.
"""

from __future__ import annotations

import enum
from pathlib import Path


class ExitStatus(enum.IntEnum):
    OK = 0
    FAILED = 1  # the run worked, but tests failed or an import was refused
    USAGE = 2  # bad input or usage; nothing was written


class FlaggemsError(Exception):
    """Base of every error this tool raises deliberately."""


class InputError(FlaggemsError):
    """A problem with one input file: which file, where in it, what was expected."""

    def __init__(self, path: str | Path | None, json_path: str | None, message: str):
        self.path = str(path) if path is not None else None
        self.json_path = json_path
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [p for p in (self.path, self.json_path) if p]
        return ": ".join([*where, self.message])


class InputErrors(FlaggemsError):
    """Several input problems found in one pass, reported together."""

    def __init__(self, problems: list[InputError]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(FlaggemsError):
    """Options that cannot work together, caught before any work starts."""


class CandidateError(FlaggemsError):
    """What a candidate operator did wrong while it ran (runner guards): fails that operator alone."""
