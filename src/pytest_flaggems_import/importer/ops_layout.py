"""The ``ops`` layout (SPEC 5): the edits FlagGems' own "[KernelGen][Nvidia] Add <op> operator"
commits make, as pure functions from a file's text to its new text. No file system access here.

Python files are edited through libcst, so every comment, blank line and formatting choice of the
checkout's ``__init__.py`` files stays as it was; ``conf/operators.yaml`` gets one block of lines
inserted (its comments and quoting stay too). Each new item goes to its *sorted place*: between
the first two neighbours it sorts between, comparing names case-insensitively with leading
underscores ignored, because FlagGems' lists are sorted that way in long stretches, not throughout.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst

LINE_LENGTH = 88  # FlagGems formats with black's default
KINDS = {"pointwise": "Math", "reduction": "Reduction", "blas": "BLAS"}  # anything else: NeuralNetwork
_ENTRY = re.compile(r"^  - id: (\S+)\s*$")
_STAGE = re.compile(r"^\s*- (?:alpha|beta|stable): '(\d+(?:\.\d+)*)'")


def sort_key(name: str) -> str:
    return name.lstrip("_").lower()


def sorted_position(names: Sequence[str], new: str) -> int:
    """Where ``new`` goes in ``names``: between two neighbours it sorts between (at an end: next
    to one), choosing, where there are several such places, the one most names of its kind agree
    with (those before it sort before ``new``, those after it after). Its kind: names with a
    leading underscore, or names without, as FlagGems keeps them apart.

    FlagGems' lists put the underscore names first, then the rest alphabetically: ``logit_backward``
    sorts between ``_is_all_true`` and ``_safe_softmax`` as well as between ``logit_`` and
    ``logspace``; only the second place agrees with the hundreds of plain names around it, while
    ``_conj_copy`` goes next to ``_conj`` among the underscore names."""
    return _Order(names).position(new)


class _Order:
    """An existing list's sort keys, computed once for many insertions."""

    def __init__(self, names: Sequence[str]) -> None:
        self.keys = [sort_key(n) for n in names]
        self.underscored = [n.startswith("_") for n in names]

    def position(self, new: str) -> int:
        keys, key = self.keys, sort_key(new)
        kin = [u == new.startswith("_") for u in self.underscored]
        if not any(kin):
            kin = [True] * len(keys)
        before, after = 0, sum(k >= key and same for k, same in zip(keys, kin, strict=True))
        best, best_score = len(keys), -1
        for i in range(len(keys) + 1):
            between = (i == 0 or keys[i - 1] <= key) and (i == len(keys) or key <= keys[i])
            if between and before + after > best_score:
                best, best_score = i, before + after
            if i < len(keys):
                before += keys[i] <= key and kin[i]
                after -= keys[i] >= key and kin[i]
        return best


def placements(existing: Sequence[str], new: Sequence[str]) -> dict[int, list[str]]:
    """Where each of ``new`` (not already in ``existing``) goes: position in ``existing`` → the new
    names placed there, in sorted order. Positions are taken in the existing list, once per name."""
    order, present = _Order(existing), set(existing)
    out: dict[int, list[str]] = {}
    for name in dict.fromkeys(new):
        if name not in present:
            out.setdefault(order.position(name), []).append(name)
    return {at: sorted(names, key=sort_key) for at, names in out.items()}


def file_stem(entry: str) -> str:
    """``tests/test_<stem>.py``, ``benchmark/test_<stem>.py``, the yaml ``id``: FlagGems drops the
    leading underscores (``_conj_copy`` → ``test_conj_copy.py``, ``__rshift__`` → ``test_rshift.py``)
    and trailing dunder ones."""
    stem = entry.lstrip("_")
    return stem[:-2] if entry.startswith("__") and stem.endswith("__") else stem


# -- src/flag_gems/ops/__init__.py -------------------------------------------------------------


def _import_statement(module: str, names: Sequence[str]) -> cst.SimpleStatementLine:
    line = f"from {module} import {', '.join(names)}"
    if len(line) > LINE_LENGTH:  # as black splits it
        line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"
    statement = cst.parse_statement(line + "\n")
    assert isinstance(statement, cst.SimpleStatementLine)
    return statement


def _imported_module(statement: cst.CSTNode) -> str | None:
    """``flag_gems.ops.x`` for a line ``from flag_gems.ops.x import ...``, else None."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    node = statement.body[0]
    if not isinstance(node, cst.ImportFrom) or node.module is None or node.relative:
        return None
    return cst.Module([]).code_for_node(node.module)


def add_imports(text: str, imports: Sequence[tuple[str, Sequence[str]]], package: str = "flag_gems.ops") -> str:
    """``from <module> import <names>`` for each of ``imports``, at its sorted place among the
    package's own imports; a module already imported is left as it is. One parse for all."""
    tree = cst.parse_module(text)
    body = list(tree.body)
    siblings = [(i, m) for i, s in enumerate(body) if (m := _imported_module(s)) and m.startswith(package + ".")]
    wanted = {module.rpartition(".")[2]: (module, names) for module, names in imports}
    places = placements([m.rpartition(".")[2] for _, m in siblings], list(wanted))
    if not places:
        return text
    end = siblings[-1][0] + 1 if siblings else _preamble_length(body)
    for at in sorted(places, reverse=True):  # from the bottom: earlier indices stay valid
        index = siblings[at][0] if at < len(siblings) else end
        body[index:index] = [_import_statement(*wanted[stem]) for stem in places[at]]
    return tree.with_changes(body=body).code


def _preamble_length(body: Sequence[cst.BaseStatement]) -> int:
    """How many statements open the module as its docstring and imports (``from __future__``
    first of all): the first imports of the package go after them."""
    for i, statement in enumerate(body):
        parts = statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]
        docstring = i == 0 and all(isinstance(p, cst.Expr) and isinstance(p.value, cst.SimpleString) for p in parts)
        if not docstring and not all(isinstance(p, (cst.Import, cst.ImportFrom)) for p in parts):
            return i
    return len(body)


def _string_value(node: cst.BaseExpression) -> str | None:
    return node.evaluated_value if isinstance(node, cst.SimpleString) else None  # type: ignore[return-value]


class _SequenceInsert(cst.CSTTransformer):
    """Insert elements into the list or tuple assigned to ``target`` at module level, each at
    its sorted place, with the commas and line breaks of the elements already there."""

    def __init__(self, target: str, new: dict[str, cst.BaseExpression], key_of) -> None:  # noqa: ANN001
        super().__init__()
        self.target, self.new, self.key_of = target, new, key_of
        self.found = False

    def leave_Assign(self, original: cst.Assign, updated: cst.Assign) -> cst.Assign:
        names = [t.target.value for t in updated.targets if isinstance(t.target, cst.Name)]
        if self.target not in names or not isinstance(updated.value, (cst.List, cst.Tuple)):
            return updated
        self.found = True
        places = placements([self.key_of(e.value) or "" for e in updated.value.elements], list(self.new))
        return updated.with_changes(value=_inserted(updated.value, places, self.new))


def _inserted(sequence: cst.List | cst.Tuple, places: dict[int, list[str]],
              new: dict[str, cst.BaseExpression]) -> cst.List | cst.Tuple:  # fmt: skip
    """``sequence`` with the new values at their places, separated as its first two elements are
    (comma, line break, indent). Comments stay where they belong: a comment at the end of an
    element's line with that element, comment lines above an element above it; new elements get
    none. (libcst keeps an element's end-of-line comment in the whitespace after its comma, or
    before the closing bracket for the last one, and comment lines in the whitespace before the
    element they precede.)"""
    if not places:
        return sequence
    elements = list(sequence.elements)
    if not elements:  # ["a", "b"]; a tuple of one keeps its comma
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        added = [cst.Element(new[key], comma=space) for key in places[0]]
        last = cst.Comma() if isinstance(sequence, cst.Tuple) and len(added) == 1 else cst.MaybeSentinel.DEFAULT
        return sequence.with_changes(elements=[*added[:-1], added[-1].with_changes(comma=last)])
    opening, closing = _opening(sequence), _closing(sequence)
    separator = _separator(elements, opening)
    out: list[cst.Element] = []
    for i in range(len(elements) + 1):
        if i in places:
            added = [cst.Element(new[key], comma=separator) for key in places[i]]
            if i == 0:  # the comment lines above the first element stay above it
                added[-1] = _with_lines(added[-1], opening)
                opening = _blank(opening, keep_first_line=True)
            elif i < len(elements):  # ... and above any other, after the comma before it
                added[-1] = _with_lines(added[-1], out[-1].comma.whitespace_after)
                out[-1] = _without_lines(out[-1])
            else:  # after the last: it keeps its end-of-line comment, the closing comma moves on
                added[-1] = added[-1].with_changes(comma=out[-1].comma)
                out[-1], closing = _no_longer_last(out[-1], separator, closing)
            out += added
        if i < len(elements):
            out.append(elements[i])
    return _with_brackets(sequence.with_changes(elements=out), opening, closing)


def _separator(elements: list[cst.Element], opening: cst.BaseParenthesizableWhitespace) -> cst.Comma:
    """The comma after a new element: as after the first element (comments left out); in a
    sequence of one, a line break and indent as after the opening bracket, else one space."""
    if len(elements) > 1 and isinstance(elements[0].comma, cst.Comma):
        return elements[0].comma.with_changes(whitespace_after=_blank(elements[0].comma.whitespace_after))
    if isinstance(opening, cst.ParenthesizedWhitespace):
        return cst.Comma(whitespace_after=_blank(opening))
    return cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _no_longer_last(element: cst.Element, separator: cst.Comma, closing: cst.BaseParenthesizableWhitespace,
                    ) -> tuple[cst.Element, cst.BaseParenthesizableWhitespace]:  # fmt: skip
    """The old last element, now followed by another, and the whitespace before the closing
    bracket: the end-of-line comment that whitespace held goes with the element."""
    after = separator.whitespace_after
    if not (isinstance(closing, cst.ParenthesizedWhitespace) and isinstance(after, cst.ParenthesizedWhitespace)):
        return element.with_changes(comma=separator), closing
    comma = separator.with_changes(whitespace_after=after.with_changes(first_line=closing.first_line))
    return element.with_changes(comma=comma), closing.with_changes(first_line=cst.TrailingWhitespace())


def _blank(whitespace: cst.BaseParenthesizableWhitespace, keep_first_line: bool = False) -> cst.BaseParenthesizableWhitespace:
    """``whitespace`` without its comments (the end-of-line one too unless ``keep_first_line``)."""
    if not isinstance(whitespace, cst.ParenthesizedWhitespace):
        return whitespace
    return whitespace.with_changes(first_line=whitespace.first_line if keep_first_line else cst.TrailingWhitespace(), empty_lines=[])


def _with_lines(element: cst.Element, source: cst.BaseParenthesizableWhitespace) -> cst.Element:
    """``element`` with the comment lines of ``source`` after its comma (above the next element)."""
    comma = element.comma
    if not isinstance(source, cst.ParenthesizedWhitespace) or not source.empty_lines or not isinstance(comma, cst.Comma):
        return element
    after = comma.whitespace_after
    if not isinstance(after, cst.ParenthesizedWhitespace):
        return element
    return element.with_changes(comma=comma.with_changes(whitespace_after=after.with_changes(empty_lines=source.empty_lines)))


def _without_lines(element: cst.Element) -> cst.Element:
    comma = element.comma
    if not isinstance(comma, cst.Comma) or not isinstance(comma.whitespace_after, cst.ParenthesizedWhitespace):
        return element
    return element.with_changes(comma=comma.with_changes(whitespace_after=_blank(comma.whitespace_after, keep_first_line=True)))


def _opening(sequence: cst.List | cst.Tuple) -> cst.BaseParenthesizableWhitespace:
    if isinstance(sequence, cst.List):
        return sequence.lbracket.whitespace_after
    return sequence.lpar[0].whitespace_after if sequence.lpar else cst.SimpleWhitespace("")


def _closing(sequence: cst.List | cst.Tuple) -> cst.BaseParenthesizableWhitespace:
    if isinstance(sequence, cst.List):
        return sequence.rbracket.whitespace_before
    return sequence.rpar[-1].whitespace_before if sequence.rpar else cst.SimpleWhitespace("")


def _with_brackets(sequence: cst.List | cst.Tuple, opening: cst.BaseParenthesizableWhitespace,
                   closing: cst.BaseParenthesizableWhitespace) -> cst.List | cst.Tuple:  # fmt: skip
    if isinstance(sequence, cst.List):
        return sequence.with_changes(lbracket=sequence.lbracket.with_changes(whitespace_after=opening),
                                     rbracket=sequence.rbracket.with_changes(whitespace_before=closing))  # fmt: skip
    if not sequence.lpar:
        return sequence
    lpar = [sequence.lpar[0].with_changes(whitespace_after=opening), *sequence.lpar[1:]]
    rpar = [*sequence.rpar[:-1], sequence.rpar[-1].with_changes(whitespace_before=closing)]
    return sequence.with_changes(lpar=lpar, rpar=rpar)


def add_all_names(text: str, names: Sequence[str]) -> str:
    """Each of ``names`` at its sorted place in ``__all__`` (a literal list or tuple)."""
    new = {n: cst.SimpleString(f'"{n}"') for n in names}
    return _edit_sequence(text, "__all__", new, _string_value)


def _config_key(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Tuple) and node.elements:
        return _string_value(node.elements[0].value)
    return None


def add_full_config(text: str, entries: dict[str, str]) -> str:
    """``("<aten key>", <function>),`` for each entry, at its sorted place in ``_FULL_CONFIG``."""
    new = {key: cst.parse_expression(f'("{key}", {function})') for key, function in entries.items()}
    return _edit_sequence(text, "_FULL_CONFIG", new, _config_key)


def _edit_sequence(text: str, target: str, new: dict[str, cst.BaseExpression], key_of) -> str:  # noqa: ANN001
    tree = cst.parse_module(text)
    editor = _SequenceInsert(target, new, key_of)
    edited = tree.visit(editor)
    if not editor.found:
        raise ValueError(f"no literal {target} = [...] or (...) at module level")
    return edited.code


# -- conf/operators.yaml ---------------------------------------------------------------------------


def newest_stage_version(yaml_text: str) -> str | None:
    """The newest version any ``stages`` entry names (``'5.4'``), the one a new alpha op gets."""
    versions = [m.group(1) for line in yaml_text.splitlines() if (m := _STAGE.match(line))]
    return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")), default=None)


def operator_entry(op_id: str, description: str, keys: Sequence[str], kind: str, version: str) -> str:
    lines = [f"  - id: {op_id}", f"    description: {description}", "    for:"]
    lines += [f"      - {key}" for key in keys]
    lines += ["    labels:", "      - aten", "      - KernelGen", "    kind:", f"      - {kind}", "    stages:"]
    lines += [f"      - alpha: '{version}'"]
    return "\n".join(lines) + "\n"


def add_operator_entries(yaml_text: str, entries: Sequence[tuple[str, str]]) -> str:
    """Each ``(id, block)`` (blocks from ``operator_entry``) at its sorted place in the ``ops:``
    list, unless the id is there already."""
    lines = yaml_text.splitlines(keepends=True)
    starts = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _ENTRY.match(line))]
    blocks = dict(entries)
    places = placements([name for _, name in starts], list(blocks))
    if not places:
        return yaml_text
    end = len(lines)  # after the last entry's block: its indented lines
    for i in range(starts[-1][0] + 1 if starts else len(lines), len(lines)):
        if lines[i].strip() and not lines[i].startswith("    "):
            end = i
            break
    if end == len(lines) and lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for at in sorted(places, reverse=True):
        index = starts[at][0] if at < len(starts) else end
        lines[index:index] = [blocks[op_id] for op_id in places[at]]
    return "".join(lines)


def kind_of(category: str) -> str:
    return KINDS.get(category, "NeuralNetwork")


# -- what the operator's code defines ----------------------------------------------------------

_NOT_OVERLOADS = frozenset({"kernel", "impl", "wrapper", "launcher", "launch", "fwd", "bwd", "forward", "backward"})


def aten_keys(code: str, base: str, overload: str | None, entry: str) -> dict[str, str]:
    """``{"logit": "logit", "logit.out": "logit_out"}``: the ATen keys the code implements and the
    function of each, for ``_FULL_CONFIG`` and ``for:``. The entry implements the op's own key;
    an undecorated top-level ``<base>_<overload>`` function implements ``<base>.<overload>``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    functions = [
        n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and not n.decorator_list
    ]
    keys = {f"{base}.{overload}" if overload else base: entry} if any(f.name == entry for f in functions) else {}
    for function in functions:
        suffix = function.name[len(base) + 1 :] if function.name.startswith(base + "_") else ""
        if (
            function.name != entry
            and suffix.isidentifier()
            and not suffix.endswith("_")
            and suffix not in _NOT_OVERLOADS
        ):
            keys[f"{base}.{suffix}"] = function.name
    return keys


def description(code: str, entry: str, op: str) -> str:
    """The first line of the entry's docstring, or FlagGems' usual line for a KernelGen op."""
    line = ""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        tree = ast.Module(body=[], type_ignores=[])
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry:
            doc = (ast.get_docstring(node) or "").strip()
            line = doc.splitlines()[0].strip() if doc else ""
    # A line YAML would read as something else (a mapping, a comment) is not worth quoting rules.
    return line if line and ":" not in line and "#" not in line else f"Triton kernel implementation for {op}."


def tensor_arguments(code: str, entry: str) -> int:
    """How many positional parameters without a default the entry takes (its tensor inputs, mostly)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 1
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry:
            positional = [*node.args.posonlyargs, *node.args.args]
            return len(positional) - len(node.args.defaults)
    return 1


def benchmark_source(op: str, stem: str, torch_op: str, category: str, tensors: int) -> str:
    """``benchmark/test_<stem>.py`` in FlagGems' style: its ``base`` benchmark for the category."""
    if category == "pointwise" and tensors in (1, 2):
        kind = "UnaryPointwiseBenchmark" if tensors == 1 else "BinaryPointwiseBenchmark"
        extra = ""
    elif category == "reduction" and tensors == 1:
        kind, extra = "UnaryReductionBenchmark", ""
    else:
        kind, extra = "GenericBenchmark", "        input_fn=_input_fn,\n"
    helper = ""
    if extra:
        helper = f"\n\ndef _input_fn(shape, dtype, device):\n{_yield_inputs(max(tensors, 1))}\n"
    return (
        "import pytest\nimport torch\n\nfrom . import base, consts\n"
        f"{helper}\n\n@pytest.mark.{op}\ndef test_{stem}():\n    bench = base.{kind}(\n"
        f'        op_name="{op}",\n        torch_op={torch_op},\n{extra}        dtypes=consts.FLOAT_DTYPES,\n    )\n'
        "    bench.run()\n"
    )


def _yield_inputs(tensors: int) -> str:
    """``yield (<tensor>, ...)``, one line, or split as black splits it."""
    tensor = "torch.randn(shape, dtype=dtype, device=device)"
    line = f"    yield ({', '.join([tensor] * tensors)},)"
    return line if len(line) <= LINE_LENGTH else "    yield (\n" + f"        {tensor},\n" * tensors + "    )"


# -- what FlagGems already has -----------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    """What the checkout already registers, read once per import (not once per operator)."""

    keys: frozenset[str]  # _FULL_CONFIG's ATen keys
    imported: dict[str, str]  # ops/__init__.py: name → module it comes from
    ids: frozenset[str]  # conf/operators.yaml's ids

    @classmethod
    def read(cls, top_init: str, ops_init: str, yaml_text: str) -> Registered:
        ids = frozenset(m.group(1) for line in yaml_text.splitlines() if (m := _ENTRY.match(line)))
        return cls(frozenset(_full_config_keys(top_init)), _imported_names(ops_init), ids)

    def conflicts(self, module: str, keys: dict[str, str], op_id: str) -> list[str]:
        """What of this operator the checkout already has from someone else: ATen keys registered
        in ``_FULL_CONFIG``, function names ``ops/__init__.py`` imports from another module, the
        yaml id. Importing over them would register a second kernel for one key, or shadow
        FlagGems' function."""
        found = [f"_FULL_CONFIG registers {key!r}" for key in keys if key in self.keys]
        found += [f"ops/__init__.py imports {name} from {self.imported[name]}" for name in sorted(set(keys.values()))
                  if name in self.imported and self.imported[name] != module]  # fmt: skip
        if op_id in self.ids:
            found.append(f"conf/operators.yaml has id {op_id!r}")
        return found


def _full_config_keys(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    keys = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_FULL_CONFIG" for t in node.targets
        ):
            for element in getattr(node.value, "elts", []):
                first = element.elts[0] if isinstance(element, ast.Tuple) and element.elts else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    keys.add(first.value)
    return keys


def _imported_names(text: str) -> dict[str, str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
        for alias in node.names
    }
