"""What the importer writes, as pure functions of their inputs: headers, test files, ``__init__``
exports and the ``_metadata.json`` merge. No file system access here."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core.formats import OperatorSpec

HEADER_END = "# --- end of pytest-flaggems-import header ---\n"
METADATA_VERSION = "1.0"


@dataclass(frozen=True)
class Candidate:
    """One selected operator, with everything the importer writes about it."""

    spec: OperatorSpec
    category: str
    batch: int
    justification: str  # the decision's reason line, e.g. "mean speedup vs FlagGems 1.409x >= 1.3x"
    source: str  # the operator file, relative to the ops folder
    performance: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def op_id(self) -> str:
        return self.spec.name.op_id


def render_header(c: Candidate) -> str:
    return (
        f"# Generated operator imported by pytest-flaggems-import {__version__}; re-import rather than edit.\n"
        f"# op_name: {c.spec.name.qualified}  op_id: {c.op_id}  category: {c.category}  batch: {c.batch}\n"
        f"# selected: {c.justification}\n"
        f"# source: {c.source if c.source.isprintable() else ascii(c.source)}\n"
        f"{HEADER_END}"
    )


def split_header(text: str) -> tuple[str, str]:
    """``(header, body)`` of a file we wrote; a hand-written file is all body."""
    head, sep, body = text.partition(HEADER_END)
    return (head + sep, body) if sep else ("", text)


def render_code(c: Candidate) -> str:
    return render_header(c) + c.spec.code.rstrip("\n") + "\n"


def retarget_imports(test_source: str, entry: str, category: str, module: str) -> str:
    """Point both candidate import paths (SPEC §2) at where the operator now lives."""
    paths = (rf"flag_gems\.experimental\.generated\.{re.escape(category)}\.{re.escape(entry)}",
             rf"flag_gems\.experimental_ops\.{re.escape(entry)}")  # fmt: skip
    for pattern in paths:
        test_source = re.sub(rf"\b{pattern}\b", module, test_source)
    return test_source


def render_test(c: Candidate, module: str) -> str:
    body = retarget_imports(c.spec.test_func or "", c.spec.entry, c.category, module)
    return render_header(c) + body.rstrip("\n") + "\n"


def exported_names(spec: OperatorSpec) -> list[str]:
    """What the package ``__init__`` imports from the operator's module: its entry function, or,
    when the code defines one function per overload instead (FlagGems' ``multiply.py``:
    ``multiply_Tensor``, ``multiply_Scalar``), each of those, as FlagGems' own ``__init__`` does."""
    try:
        tree = ast.parse(spec.code)
    except SyntaxError:
        return [spec.entry]
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if spec.entry in defined:
        return [spec.entry]
    per_overload = [name for name in defined if name.startswith(spec.entry + "_") and not name.endswith("_")]
    return per_overload or [spec.entry]


def add_export(init_text: str, module: str, name: str) -> str:
    """Add ``from <module> import <name>`` and ``name`` in ``__all__``; leave all else as it was."""
    return add_exports(init_text, [(module, name)])


def add_exports(init_text: str, exports: list[tuple[str, str]]) -> str:
    """``add_export`` for many (module, name) pairs at once: one parse, not one per operator
    (an import of a thousand operators into one category would otherwise be quadratic)."""
    tree = ast.parse(init_text)
    imported = {(node.module, a.name) for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names}
    lines_to_add = [f"from {m} import {n}\n" for m, n in dict.fromkeys(exports) if (m, n) not in imported]
    text = init_text
    if lines_to_add:
        last_import = max((n.end_lineno or 0 for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))), default=0)
        if last_import == 0:
            # after a module docstring, if any
            first = tree.body[0] if tree.body else None
            is_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
            last_import = (first.end_lineno or 0) if is_doc and first is not None else 0
        lines = text.splitlines(True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines[last_import:last_import] = lines_to_add
        text = "".join(lines)
    return _with_all(text, [n for _, n in exports])


def _with_all(text: str, new_names: list[str]) -> str:
    tree = ast.parse(text)
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            if not isinstance(node.value, (ast.List, ast.Tuple)):
                return text  # computed __all__: not ours to rewrite
            names = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            missing = [n for n in dict.fromkeys(new_names) if n not in names]
            if not missing:
                return text
            lines = text.splitlines(True)
            block = "__all__ = [\n" + "".join(f'    "{n}",\n' for n in [*names, *missing]) + "]\n"
            return "".join(lines[: node.lineno - 1]) + block + "".join(lines[node.end_lineno :])
    sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    return f"{text}{sep}__all__ = [\n" + "".join(f'    "{n}",\n' for n in dict.fromkeys(new_names)) + "]\n"


def metadata_entry(c: Candidate, code_location: str, now: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The op's registry entry; ``created_at``/``updated_at`` move only when something changed."""
    entry = {
        "op_name": c.spec.name.qualified,
        "op_id": c.op_id,
        "category": c.category,
        "status": "EXPERIMENTAL",
        "generation_info": {
            "source": c.source,
            "params": c.spec.params,
            "claimed": c.spec.info,
            "tool": "pytest-flaggems-import",
        },
        "validation_info": c.validation,
        "performance_baselines": {"batch": c.batch, "justification": c.justification, **c.performance},
        "code_location": code_location,
    }
    if previous is not None:
        unchanged = all(previous.get(k) == v for k, v in entry.items())
        created = previous.get("created_at", now)
        return {**entry, "created_at": created, "updated_at": previous.get("updated_at", now) if unchanged else now}
    return {**entry, "created_at": now, "updated_at": now}


def merge_metadata(existing: dict[str, Any] | None, entries: dict[str, dict[str, Any]], now: str) -> dict[str, Any]:
    """Existing registry plus ``entries``; ``last_updated`` moves only if an entry changed."""
    base = existing or {"version": METADATA_VERSION, "last_updated": now, "ops": {}}
    ops = dict(base.get("ops", {}))
    changed = any(ops.get(op_id) != entry for op_id, entry in entries.items())
    ops.update(entries)
    return {**base, "ops": dict(sorted(ops.items())), "last_updated": now if changed else base["last_updated"]}
