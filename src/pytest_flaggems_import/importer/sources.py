"""The operators an import takes, with the evidence that allows each (SPEC §5, SPEC 1: failing
operators never import): from a plugin session's decisions, or from selected files and the
session file beside them (the CLI's ``import``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_flaggems_import.core import formats, jsonio, reports
from pytest_flaggems_import.core.categories import infer_category
from pytest_flaggems_import.core.names import parse_op_name
from pytest_flaggems_import.core.selection import Decision, Rules
from pytest_flaggems_import.errors import InputError, InputErrors
from pytest_flaggems_import.importer import render


def candidate(spec: formats.OperatorSpec, batch: int, justification: str, performance: dict,
              validation: dict) -> render.Candidate:  # fmt: skip
    """One operator to import. Its source is named relative to the operator folder (above batch1/
    and batch2/) whichever front end imports, so the plugin and the CLI write the same header and
    metadata."""
    source = os.path.relpath(spec.path, _ops_root(spec.path))
    category = spec.category or infer_category(spec.name, spec.code)
    return render.Candidate(spec, category, batch, justification, source, performance, validation)


def from_decisions(
    decisions: Iterable[Decision], spec_paths: Mapping[str, Path], validation: Mapping[str, dict], rules: Rules
) -> list[render.Candidate]:
    """A plugin session's selected operators (their tests passed in it)."""
    chosen = []
    for d in decisions:
        spec = formats.load_operator(spec_paths[d.op])
        metric = d.avg_speedup_vs_flaggems if d.batch == 1 else d.avg_relative_to_cuda
        why = reports.justification(d.batch, rules.aggregate, metric, rules.thresholds[d.batch])
        chosen.append(candidate(spec, d.batch, why, reports.performance(d), validation.get(d.op, {})))
    return chosen


def _ops_root(path: Path) -> Path:
    return path.parent.parent if path.parent.name in formats.BATCH_FOLDERS else path.parent


def _operator_files(ops_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Operator file of each op with its data (read once), under every key a selected file may use for it."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, data in formats.operator_files([ops_dir]):
        try:
            name = parse_op_name(data["op_name"])  # type: ignore[index]
        except (ValueError, KeyError, TypeError):
            continue
        for key in name.perf_keys():
            found.setdefault(key, (path, data))
    return found


def _checked_operator(path: Path, data: dict[str, Any]) -> formats.OperatorSpec:
    problems = formats.validate("operator", data, path)
    if problems:
        raise InputErrors(problems)
    return formats.operator_from_data(data, path)


@dataclass(frozen=True)
class Evidence:
    """What a session file says about one operator's tests, and whether that allows an import."""

    validation: dict[str, Any]  # what _metadata.json records as validation_info
    refusal: str | None = None  # why these tests do not justify an import; None: they do
    failed: bool = False  # the refusal is a failure (never imported), not a lack of evidence


def evidence(entry: Mapping[str, Any] | None, session: Path, session_found: bool = True) -> Evidence:
    """Judge one operator's entry in ``session.json`` (SPEC 1: failing operators never import)."""
    if entry is None:
        where = f"not in {session}" if session_found else f"no session file at {session}"
        return Evidence({"total": None, "passed": None}, f"no test evidence: {where}")
    passed, failed = int(entry.get("passed") or 0), int(entry.get("failed") or 0)
    validation = {"total": passed + failed, "passed": passed}
    blocked = entry.get("blocked")
    if "blocked" not in entry:  # a session file from before the "blocked" key
        blocked = entry.get("load_error") or (f"tests failed: {failed} of {passed + failed}" if failed else None)
        blocked = blocked or (None if passed else "no passing test")
    if blocked is None:
        return Evidence(validation)
    return Evidence(validation, f"{blocked} (in {session})", failed=bool(entry.get("evidence") == "failed" or failed))


def session_file(selected_path: Path, given: Path | None) -> Path:
    """The session file that is an import's evidence: ``--session``, else the one beside the selected file."""
    return given or selected_path.parent / formats.SESSION_FILE


def _session_for(selected_path: Path, given: Path | None) -> tuple[Path, dict[str, Any] | None]:
    """The session file (``--session``, else the one beside the selected file) and its operators
    (``None`` when there is no session file beside the selected one)."""
    path = session_file(selected_path, given)
    if given is None and not path.is_file():
        return path, None
    data = jsonio.read_json(path)
    operators = data.get("operators") if isinstance(data, dict) else None
    if not isinstance(operators, dict):
        raise InputError(path, "$.operators", "expected the operators of a session written by the plugin")
    for op, entry in operators.items():
        _check_session_entry(path, op, entry)
    return path, operators


_SESSION_FIELDS = {"passed": int, "failed": int, "blocked": str, "load_error": str, "evidence": str}


def _check_session_entry(path: Path, op: str, entry: Any) -> None:
    """What ``evidence`` reads from one operator's entry, of the types the plugin writes."""
    where = formats.json_path(["operators", op])
    if not isinstance(entry, dict):
        raise InputError(path, where, f"expected an object (an operator's outcome), got {type(entry).__name__}")
    for key, kind in _SESSION_FIELDS.items():
        value = entry.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0)):
            raise InputError(path, f"{where}.{key}", f"expected {'a count' if kind is int else 'text'} or null")


def from_selected(
    selected: Sequence[Path], ops_dir: Path, session: Path | None = None, allow_untested: bool = False
) -> tuple[list[render.Candidate], dict[str, str]]:
    """The selected operators with their files, and the operators refused for their evidence."""
    files = _operator_files(ops_dir)
    candidates, problems, refused = [], [], {}
    for path in selected:
        data = formats.load_checked(path, "selected")
        session_path, tested = _session_for(path, session)
        for op, entry in data["operators"].items():
            if op not in files:
                problems.append(InputError(path, formats.json_path(["operators", op]),
                                           f"no operator file for {op!r} under {ops_dir}"))  # fmt: skip
                continue
            spec = _checked_operator(*files[op])
            proof = evidence((tested or {}).get(op), session_path, tested is not None)
            if proof.refusal is not None and (proof.failed or not allow_untested):
                refused[op] = proof.refusal
                continue
            validation = proof.validation
            if proof.refusal is not None:
                validation = {**validation, "untested": True, "note": f"imported with --allow-untested: {proof.refusal}"}
            metric = entry["avg_speedup_vs_flaggems"] if data["batch"] == 1 else entry["avg_relative_to_cuda"]
            why = reports.justification(data["batch"], data.get("aggregate", "mean"), metric, data["threshold"])
            perf = {k: entry[k] for k in ("avg_speedup_vs_flaggems", "avg_relative_to_cuda", "configs")}
            candidates.append(candidate(spec, data["batch"], why, perf, validation))
    if problems:
        raise InputErrors(problems)
    return candidates, refused
