"""Operator names: ``"aten::add.Tensor"`` → namespace, base, overload, entry function, op id.

Every name that later becomes a file name or a module path passes through here, so the
identifier check below is also what keeps a hostile ``op_name`` from escaping the target tree.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DEFAULT_NAMESPACE = "aten"


@dataclass(frozen=True)
class OpName:
    namespace: str
    base: str
    overload: str | None = None

    @property
    def qualified(self) -> str:
        """``aten::add.Tensor``: the form written in reports and metadata."""
        return f"{self.namespace}::{self.short}"

    @property
    def short(self) -> str:
        """``add.Tensor``: the name without namespace, as perf files key operators (SPEC §2)."""
        return f"{self.base}.{self.overload}" if self.overload else self.base

    @property
    def entry(self) -> str:
        """The entry function and module name: ``gelu``, ``gelu_``, ``multiply_Tensor``."""
        return f"{self.base}_{self.overload}" if self.overload else self.base

    @property
    def op_id(self) -> str:
        """Key of the operator in ``_metadata.json``; the module name, unique per checkout."""
        return self.entry

    def perf_keys(self) -> tuple[str, ...]:
        """Keys under which a perf file may list this operator, most specific first."""
        keys = [self.short, self.entry, self.base]
        return tuple(dict.fromkeys(keys))

    def versionless(self) -> OpName:
        """``relu_v2`` → ``relu``: the ATen op a version of an operator implements (the seed names
        versions of one operator apart that way)."""
        return OpName(self.namespace, re.sub(r"_v\d+\Z", "", self.base), self.overload)


def is_identifier(text: str) -> bool:
    return bool(_IDENT.match(text))


# Real ATen ops named like a standard-library module: their module names are allowed (inside a
# package, `copy.py` shadows nothing that an absolute `import copy` finds).
ATEN_NAMES_IN_STDLIB = frozenset({"copy", "select", "trace"})
RESERVED_MODULES = frozenset({"flag_gems", "torch", "triton", "numpy", "pytest", "conftest"}) | (
    frozenset(sys.stdlib_module_names) - ATEN_NAMES_IN_STDLIB
)


def module_name_problem(name: object, what: str) -> str | None:
    """Why ``name`` cannot be a module or folder name in a FlagGems checkout, or None.

    Identifiers only (no path separator, no control character, no trailing newline), no dunder
    (``__init__`` would be written as a package's ``__init__.py``), and not the name of a package
    generated code imports (``torch``, ``flag_gems``, the standard library): a real operator that
    collides gives its operator file an ``entry`` (e.g. ``"entry": "sys_op"``)."""
    if not isinstance(name, str) or not _IDENT.match(name):
        return f"{what} {name!r} is not a Python identifier"
    if name.startswith("__") and name.endswith("__"):
        return f"{what} {name!r} is a dunder name, which the checkout uses for its own files"
    if name in RESERVED_MODULES:
        return (f"{what} {name!r} is the name of a module generated code imports; "
                f"give the operator an \"entry\" such as \"{name}_op\"")  # fmt: skip
    return None


def parse_op_name(text: str) -> OpName:
    """Parse ``[namespace::]base[.overload]``; raise ``ValueError`` on anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("operator name must be a non-empty string")
    namespace, sep, rest = text.strip().partition("::")
    if not sep:
        namespace, rest = _DEFAULT_NAMESPACE, namespace
    base, _, overload = rest.partition(".")
    for part, what in ((namespace, "namespace"), (base, "name")):
        if not is_identifier(part):
            raise ValueError(f"{what} {part!r} of {text!r} is not a Python identifier")
    if overload and not is_identifier(overload):
        raise ValueError(f"overload {overload!r} of {text!r} is not a Python identifier")
    return OpName(namespace, base, overload or None)
