"""The importer: selected operators → a FlagGems checkout (SPEC §5). Standard library and core only.

``plan()`` computes every file change (pure but for reading the checkout); ``import_candidates()``
takes the lock, plans, and either prints the diff (dry run) or applies it all-or-nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_flaggems_import.core import formats, jsonio, reports
from pytest_flaggems_import.core.categories import infer_category
from pytest_flaggems_import.core.names import parse_op_name
from pytest_flaggems_import.core.selection import CRITERION, Decision
from pytest_flaggems_import.errors import ExitStatus, InputError, InputErrors
from pytest_flaggems_import.importer import render, transaction
from pytest_flaggems_import.importer.layout import Checkout, find_checkout


@dataclass
class ImportOutcome:
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    changes: list[transaction.FileChange] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _metadata(checkout: Checkout) -> dict[str, Any] | None:
    text = transaction.read_text(checkout.metadata)
    if text is None:
        return None
    data = json.loads(text) if text.strip() else None
    problems = formats.validate("metadata", data, checkout.metadata) if data is not None else []
    if problems:
        raise InputErrors(problems)
    return data


def _status(existing: str | None, new: str, force: bool) -> str:
    if existing is None:
        return "new"
    if existing == new:
        return "unchanged"
    if render.split_header(existing)[1] == render.split_header(new)[1]:
        return "updated"  # same code, new numbers in the header
    return "replaced (--force)" if force else "conflict: the checkout has different code for it (use --force)"


class _Staging:
    """The checkout's files as read once, and the new text staged for each."""

    def __init__(self) -> None:
        self.old: dict[Path, str | None] = {}
        self.new: dict[Path, str] = {}

    def original(self, path: Path) -> str | None:
        if path not in self.old:
            self.old[path] = transaction.read_text(path)
        return self.old[path]

    def current(self, path: Path) -> str:
        return self.new[path] if path in self.new else (self.original(path) or "")

    def stage(self, path: Path, text: str) -> None:
        self.original(path)
        self.new[path] = text

    def changes(self) -> list[transaction.FileChange]:
        return [transaction.FileChange(p, self.old[p], text) for p, text in self.new.items()]


def plan(checkout: Checkout, candidates: Sequence[render.Candidate], force: bool, now: str) -> ImportOutcome:
    """Every file change the import would make, and one status per operator."""
    outcome = ImportOutcome()
    files = _Staging()
    metadata = _metadata(checkout)
    previous = (metadata or {}).get("ops", {})
    entries = {}
    for c in candidates:
        paths = checkout.paths(c.spec.entry, c.category)
        code = render.render_code(c)
        status = _status(files.original(paths.code), code, force)
        outcome.statuses[c.op_id] = status
        if status.startswith("conflict"):
            outcome.failed = True
            continue
        files.stage(paths.code, code)
        if c.spec.test_func:
            files.stage(paths.test, render.render_test(c, paths.module))
        for package in paths.packages:
            if files.original(package) is None:
                files.stage(package, "")
        files.stage(paths.init, render.add_export(files.current(paths.init), paths.module, c.spec.entry))
        location = os.path.relpath(paths.code, checkout.root)
        entries[c.op_id] = render.metadata_entry(c, location, now, previous.get(c.op_id))
    if entries:
        files.stage(checkout.metadata, jsonio.dumps(render.merge_metadata(metadata, entries, now)))
    outcome.changes = files.changes()
    return outcome


def import_candidates(
    candidates: Sequence[render.Candidate], root: Path, layout: str, *, dry_run: bool, force: bool
) -> ImportOutcome:
    checkout = find_checkout(root, layout)
    with transaction.locked(checkout.root):
        outcome = plan(checkout, candidates, force, _now())
        if not outcome.failed and not dry_run:
            transaction.apply(outcome.changes)
    outcome.lines = summary_lines(outcome, checkout, candidates, dry_run)
    if dry_run:
        outcome.lines = [transaction.unified_diff(outcome.changes, checkout.root).rstrip("\n"), *outcome.lines]
    return outcome


def summary_lines(
    outcome: ImportOutcome, checkout: Checkout, candidates: Sequence[render.Candidate], dry_run: bool
) -> list[str]:
    written = sum(c.changed for c in outcome.changes)
    if outcome.failed:
        verb = "refused; nothing written"
    elif dry_run:
        verb = f"dry run; would write {written} files"
    else:
        verb = f"wrote {written} files"
    lines = [f"import into {checkout.root} ({checkout.layout} layout): {verb}"]
    lines += [f"  {op:<24} {status}" for op, status in outcome.statuses.items()]
    return lines + ["", pull_request_summary(candidates)]


def pull_request_summary(candidates: Sequence[render.Candidate]) -> str:
    """Markdown a maintainer can paste into the pull request description."""
    out = ["### Generated operators imported by pytest-flaggems-import", ""]
    for batch in (1, 2):
        mine = [c for c in candidates if c.batch == batch]
        if not mine:
            continue
        cats: dict[str, int] = {}
        for c in mine:
            cats[c.category] = cats.get(c.category, 0) + 1
        per_cat = ", ".join(f"{n} {cat}" for cat, n in sorted(cats.items()))
        out += [f"**Batch {batch}** ({CRITERION[batch]}): {len(mine)} operators ({per_cat})", ""]
        out += ["| op | category | tests passed | selected because |", "| --- | --- | --- | --- |"]
        for c in mine:
            tests = f"{c.validation.get('passed')}/{c.validation.get('total')}" if c.validation.get("total") else "n/a"
            out.append(f"| `{c.spec.name.qualified}` | {c.category} | {tests} | {c.justification} |")
        out.append("")
    return "\n".join(out).rstrip("\n")


def _candidate(spec: formats.OperatorSpec, ops_dir: Path | None, batch: int, justification: str,
               performance: dict, validation: dict) -> render.Candidate:  # fmt: skip
    source = os.path.relpath(spec.path, ops_dir) if ops_dir else spec.path.name
    category = spec.category or infer_category(spec.name, spec.code)
    return render.Candidate(spec, category, batch, justification, source, performance, validation)


def import_decisions(
    decisions: Iterable[Decision], spec_paths: Mapping[str, Path], validation: Mapping[str, dict], root: Path,
    layout: str, dry_run: bool, force: bool, ops_dir: Path | None = None,
) -> ImportOutcome:  # fmt: skip
    """The plugin's entry: import this session's selected operators."""
    candidates = []
    for d in decisions:
        spec = formats.load_operator(spec_paths[d.op])
        folder = ops_dir or _ops_root(spec.path)
        candidates.append(_candidate(spec, folder, d.batch, d.reason, reports.performance(d), validation.get(d.op, {})))
    return import_candidates(candidates, root, layout, dry_run=dry_run, force=force)


def _ops_root(path: Path) -> Path:
    return path.parent.parent if path.parent.name in ("batch1", "batch2") else path.parent


def _operator_files(ops_dir: Path) -> dict[str, Path]:
    """Operator file of each op, under every key a selected file may use for it."""
    found: dict[str, Path] = {}
    for path, data in formats.operator_files([ops_dir]):
        try:
            name = parse_op_name(data["op_name"])  # type: ignore[index]
        except (ValueError, KeyError, TypeError):
            continue
        for key in name.perf_keys():
            found.setdefault(key, path)
    return found


def _measured_tests(selected_path: Path) -> dict[str, dict]:
    """Test counts from the ``session.json`` written beside the selected file, if any."""
    session = selected_path.parent / "session.json"
    if not session.is_file():
        return {}
    ops = jsonio.read_json(session).get("operators", {})
    return {op: {"total": r["passed"] + r["failed"], "passed": r["passed"]} for op, r in ops.items()}


def candidates_from_selected(selected: Sequence[Path], ops_dir: Path) -> list[render.Candidate]:
    files = _operator_files(ops_dir)
    candidates, problems = [], []
    for path in selected:
        data = formats.load_checked(path, "selected")
        measured = _measured_tests(path)
        for op, entry in data["operators"].items():
            if op not in files:
                problems.append(InputError(path, formats.json_path(["operators", op]),
                                           f"no operator file for {op!r} under {ops_dir}"))  # fmt: skip
                continue
            spec = formats.load_operator(files[op])
            metric = entry["avg_speedup_vs_flaggems"] if data["batch"] == 1 else entry["avg_relative_to_cuda"]
            why = f"{data.get('aggregate', 'mean')} {data['criterion']} {metric} (threshold {data['threshold']})"
            validation = measured.get(
                op, {"total": None, "passed": None, "note": "no session.json beside the selected file"}
            )
            perf = {k: entry[k] for k in ("avg_speedup_vs_flaggems", "avg_relative_to_cuda", "configs")}
            candidates.append(_candidate(spec, ops_dir, data["batch"], why, perf, validation))
    if problems:
        raise InputErrors(problems)
    return candidates


def run_import(
    selected: Sequence[Path], ops_dir: Path, root: Path, layout: str, dry_run: bool, force: bool
) -> ExitStatus:
    """The CLI's ``import`` command."""
    candidates = candidates_from_selected(selected, ops_dir)
    outcome = import_candidates(candidates, root, layout, dry_run=dry_run, force=force)
    print("\n".join(outcome.lines), file=sys.stdout)
    return ExitStatus.FAILED if outcome.failed else ExitStatus.OK
