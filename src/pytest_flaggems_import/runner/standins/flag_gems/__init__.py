"""Stand-in for the few FlagGems helpers that generated operators and their tests use.

Loaded only when the real ``flag_gems`` cannot be imported (no FlagGems installed, or no GPU for
it to initialise on). It is not FlagGems: ``use_gems()`` switches nothing on, ``libentry()`` adds
no caching. Reports say when it was used. What is covered is listed in docs/isolation.md.
"""

import contextlib

from flag_gems import runtime, testing, utils  # noqa: F401

STANDIN = True
__version__ = "0+standin"
device = runtime.device.name
vendor_name = runtime.device.vendor_name


class use_gems(contextlib.ContextDecorator):
    """Accepts FlagGems' arguments and does nothing: tests call the candidate directly."""

    def __init__(self, exclude=None, include=None, record=False, once=False, path=None):
        self.include, self.exclude = include, exclude

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def enable(*args, **kwargs):
    """FlagGems registers its ATen overrides here; the stand-in has none to register."""


def disable(*args, **kwargs):
    pass
