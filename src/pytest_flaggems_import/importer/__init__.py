"""The importer: selected operators → a FlagGems checkout (SPEC §5). Standard library and core only.

``plan()`` computes every file change (pure but for reading the checkout); ``import_candidates()``
takes the lock, plans, and either prints the diff (dry run) or applies it all-or-nothing. Which
operators it takes, and on what evidence, is ``sources``'s; how a layout's files read,
``render``, ``ops_layout`` and ``pull_requests``'.
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

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core import formats, jsonio
from pytest_flaggems_import.core.selection import CRITERION, Decision, Rules
from pytest_flaggems_import.errors import ExitStatus, InputError, InputErrors
from pytest_flaggems_import.importer import ops_layout, pull_requests, render, sources, transaction
from pytest_flaggems_import.importer.layout import Checkout, find_checkout


@dataclass
class ImportOutcome:
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    changes: list[transaction.FileChange] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    diff: str = ""  # a dry run's unified diff


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _metadata(checkout: Checkout, files: _Staging) -> dict[str, Any] | None:
    if checkout.metadata in files.new:  # written by this run (earlier pull requests)
        data = json.loads(files.new[checkout.metadata])
    else:
        original = files.original(checkout.metadata)
        if original is None or not original.strip():
            return None
        data = jsonio.read_json(checkout.metadata)  # the checkout's: a clear error when broken
    problems = formats.validate("metadata", data, checkout.metadata) if data is not None else []
    if problems:
        raise InputErrors(problems)
    return data


def _status(existing: str | None, new: str, force: bool, what: str = "code") -> str:
    """``--force`` replaces only a file this tool wrote (it has our header); a file of that name
    that someone else wrote, or a hand edit without ``--force``, is a conflict."""
    if existing is None:
        return "new"
    if existing == new:
        return "unchanged"
    header, body = render.split_header(existing)
    if not header:
        return f"conflict: the checkout has a {what} file of that name that pytest-flaggems-import did not write"
    if body == render.split_header(new)[1]:
        return "updated"  # same code, new numbers in the header
    return "replaced (--force)" if force else f"conflict: the checkout has different {what} for it (use --force)"


def _combined(code: str, test: str) -> str:
    """One status per operator from its code's and its test's."""
    for status in (code, test):
        if status.startswith("conflict"):
            return status
    return code if code != "unchanged" or test in ("unchanged", "new") else "updated"


def _outside(checkout: Checkout, paths: Sequence[Path]) -> Path | None:
    """The first path that would resolve outside the checkout (a symlinked folder), if any."""
    root = os.path.realpath(checkout.root)
    for path in paths:
        if not os.path.realpath(path).startswith(root + os.sep):
            return path
    return None


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


def plan(checkout: Checkout, candidates: Sequence[render.Candidate], force: bool, now: str,
         files: _Staging | None = None) -> ImportOutcome:  # fmt: skip
    """Every file change the import would make, and one status per operator. ``files``: a staging
    that already holds earlier changes (pull requests planned one after the other)."""
    files = files if files is not None else _Staging()
    if checkout.layout == "ops":
        return plan_ops(checkout, candidates, force, files)
    outcome = ImportOutcome()
    metadata = _metadata(checkout, files)
    previous = (metadata or {}).get("ops", {})
    entries = {}
    exports: dict[Path, list[tuple[str, str]]] = {}
    for c in candidates:
        paths = checkout.paths(c.spec.entry, c.category)
        code = render.render_code(c)
        test = render.render_test(c, paths.module) if c.spec.test_func else None
        status = _combined(
            _status(files.original(paths.code), code, force),
            _status(files.original(paths.test), test, force, "tests") if test is not None else "unchanged",
        )
        escaping = _outside(checkout, [paths.code, paths.test, paths.init, *paths.packages])
        if escaping is not None:
            status = f"conflict: {escaping} would be written outside the checkout (a symlinked folder)"
        outcome.statuses[c.op_id] = status
        if status.startswith("conflict"):
            outcome.failed = True
            continue
        files.stage(paths.code, code)
        if test is not None:
            files.stage(paths.test, test)
        for package in paths.packages:
            if files.original(package) is None:
                files.stage(package, "")
        exports.setdefault(paths.init, []).extend((paths.module, n) for n in render.exported_names(c.spec))
        location = os.path.relpath(paths.code, checkout.root)
        entries[c.op_id] = render.metadata_entry(c, location, now, previous.get(c.op_id))
    for init, pairs in exports.items():  # each __init__.py edited once, for all its operators
        files.stage(init, render.add_exports(files.current(init), pairs))
    if entries:
        files.stage(checkout.metadata, jsonio.dumps(render.merge_metadata(metadata, entries, now)))
    outcome.changes = files.changes()
    return outcome


def plan_ops(checkout: Checkout, candidates: Sequence[render.Candidate], force: bool,
             files: _Staging | None = None) -> ImportOutcome:  # fmt: skip
    """The ``ops`` layout (SPEC 5): six files per operator, as FlagGems' KernelGen commits. No
    metadata file: the test file's header (``tests/test_<op>.py``) marks an operator as ours (one
    without tests: the benchmark file this tool writes for the code in place), and
    an operator FlagGems already has (its keys registered, its functions imported, its yaml id) is a
    conflict, never a second registration. The files all operators share are edited once, for
    all of them (a libcst parse of FlagGems' ``__init__.py`` takes a good part of a second)."""
    outcome, files = ImportOutcome(), files if files is not None else _Staging()
    version = ops_layout.newest_stage_version(files.original(checkout.operators_yaml) or "")
    if version is None:
        raise InputError(checkout.operators_yaml, None, "no stage version to give new operators (alpha: '<newest>')")
    top, init = checkout.package / "__init__.py", checkout.package / "ops" / "__init__.py"
    registered = ops_layout.Registered.read(files.current(top), files.current(init), files.current(checkout.operators_yaml))
    accepted = []
    for c in candidates:
        paths = checkout.paths(c.spec.entry, c.category)
        keys = ops_layout.aten_keys(c.spec.code, c.spec.name.base, c.spec.name.overload, c.spec.entry)
        test = render.render_test(c, paths.module) if c.spec.test_func else None
        status = _ops_status(checkout, c, paths, keys, test, force, files, registered)
        outcome.statuses[c.op_id] = status
        if status.startswith("conflict"):
            outcome.failed = True
            continue
        _stage_own_files(files, c, paths, test)
        accepted.append((c, paths, keys))
    if accepted:
        try:
            _stage_shared_files(files, checkout, accepted, version)
        except ValueError as exc:
            raise InputError(top, None, f"cannot add the operators: {exc}") from None
    outcome.changes = [change for change in files.changes() if change.changed]
    return outcome


def _ops_status(checkout: Checkout, c: render.Candidate, paths: Any, keys: dict[str, str], test: str | None,
                force: bool, files: _Staging, registered: ops_layout.Registered) -> str:  # fmt: skip
    # Ours: a test file with our header, this very code already in place (a re-import), or (an
    # operator without tests) the benchmark file this tool writes for the code in place.
    existing = files.original(paths.code)
    ours = (bool(render.split_header(files.original(paths.test) or "")[0]) or existing == _ops_code(c)
            or (existing is not None and _benchmark_is_ours(files, c, paths, existing)))  # fmt: skip
    status = _combined(
        _ops_code_status(existing, _ops_code(c), force, ours),
        _status(files.original(paths.test), test, force, "tests") if test is not None else "unchanged",
    )
    escaping = _outside(checkout, [paths.code, paths.test, paths.init, paths.benchmark, checkout.operators_yaml])
    if escaping is not None:
        return f"conflict: {escaping} would be written outside the checkout (a symlinked folder)"
    if not keys:
        return f"conflict: the code defines no function {c.spec.entry!r} or <op>_<overload> to register"
    taken = [] if ours else registered.conflicts(paths.module, keys, ops_layout.file_stem(c.spec.entry))
    if taken:
        return f"conflict: FlagGems already has this operator ({'; '.join(taken)})"
    return status


def _ops_code(c: render.Candidate) -> str:
    """The code as FlagGems keeps it in ``ops/``: no header, no blank lines around it."""
    return c.spec.code.strip("\n") + "\n"


def _ops_code_status(existing: str | None, new: str, force: bool, ours: bool) -> str:
    if existing is None or existing == new:
        return "new" if existing is None else "unchanged"
    if not ours:
        return "conflict: the checkout has a code file of that name that pytest-flaggems-import did not write"
    return "replaced (--force)" if force else "conflict: the checkout has different code for it (use --force)"


def _stage_own_files(files: _Staging, c: render.Candidate, paths: Any, test: str | None) -> None:
    """The three files that are the operator's alone: code, test, benchmark."""
    files.stage(paths.code, _ops_code(c))
    if test is not None:
        files.stage(paths.test, test)
    if c.spec.benchmark_func:  # the operator's own, as given (like its code)
        files.stage(paths.benchmark, c.spec.benchmark_func.strip("\n") + "\n")
    elif files.original(paths.benchmark) is None or _benchmark_is_ours(files, c, paths, files.original(paths.code) or ""):
        files.stage(paths.benchmark, _generated_benchmark(c, c.spec.code))  # a maintainer's benchmark is theirs


def _benchmark_is_ours(files: _Staging, c: render.Candidate, paths: Any, code: str) -> bool:
    """Whether the checkout's benchmark file is exactly what this tool writes for ``code``."""
    return files.original(paths.benchmark) == _generated_benchmark(c, code)


def _generated_benchmark(c: render.Candidate, code: str) -> str:
    """``benchmark/test_<stem>.py`` as this tool writes it for ``code`` (the operator's or, to
    recognise its own file, the code already in the checkout)."""
    name = c.spec.name
    torch_op = f"torch.ops.{name.namespace}.{name.base}" + (f".{name.overload}" if name.overload else "")
    tensors = ops_layout.tensor_arguments(code, c.spec.entry)
    return ops_layout.benchmark_source(name.base, ops_layout.file_stem(c.spec.entry), torch_op, c.category, tensors)


def _stage_shared_files(files: _Staging, checkout: Checkout, accepted: list[tuple[render.Candidate, Any, dict[str, str]]],
                        version: str) -> None:  # fmt: skip
    """The three files all operators share, each edited once: ``ops/__init__.py`` (imports and
    ``__all__``), ``__init__.py`` (``_FULL_CONFIG``), ``conf/operators.yaml``."""
    init, top = accepted[0][1].init, checkout.package / "__init__.py"
    imports = [(paths.module, sorted(set(keys.values()), key=ops_layout.sort_key)) for _, paths, keys in accepted]
    text = ops_layout.add_imports(files.current(init), imports)
    files.stage(init, ops_layout.add_all_names(text, [n for _, names in imports for n in names]))
    files.stage(top, ops_layout.add_full_config(files.current(top), {k: f for _, _, keys in accepted for k, f in keys.items()}))
    entries = []
    for c, _, keys in accepted:
        stem = ops_layout.file_stem(c.spec.entry)
        text = ops_layout.description(c.spec.code, c.spec.entry, c.spec.name.base)
        entries.append((stem, ops_layout.operator_entry(stem, text, list(keys), ops_layout.kind_of(c.category), version)))
    files.stage(checkout.operators_yaml, ops_layout.add_operator_entries(files.current(checkout.operators_yaml), entries))


def _refuse_shared_files(candidates: Sequence[render.Candidate]) -> None:
    """Two operators whose names map to one module (``add.Tensor`` and ``add_Tensor``) would
    silently share a file: an input error naming both."""
    by_id: dict[str, render.Candidate] = {}
    problems = []
    for c in candidates:
        other = by_id.setdefault(c.op_id, c)
        if other is not c:
            problems.append(InputError(c.spec.path, "$.op_name", f"{c.spec.name.qualified} and "
                                       f"{other.spec.name.qualified} ({other.spec.path}) would both be written as "
                                       f"{c.op_id}.py; give one of them an \"entry\""))  # fmt: skip
    if problems:
        raise InputErrors(problems)


@dataclass(frozen=True)
class PullRequests:
    """``--flaggems-pr-dir`` / ``--flaggems-pr-lines``: write pull requests instead of the checkout."""

    folder: Path
    lines: int = pull_requests.DEFAULT_LINES
    device: str = "the screening session's device"
    branch: str | None = None  # also commit each on this new branch of the checkout (git)
    provenance: tuple[tuple[str, str], ...] = ()  # commit trailers: tool version, session file hash


def import_candidates(
    candidates: Sequence[render.Candidate], root: Path, layout: str, *, dry_run: bool, force: bool,
    prs: PullRequests | None = None,
) -> ImportOutcome:  # fmt: skip
    _refuse_shared_files(candidates)
    checkout = find_checkout(root, layout)
    if prs is not None:
        return _as_pull_requests(checkout, candidates, force, prs)
    with transaction.locked(checkout.package):
        # An earlier import killed halfway: put the checkout back first (a dry run too: it then
        # shows the diff against the checkout as it was, not a half-written one).
        recovered = transaction.recover(checkout.journal)
        outcome = plan(checkout, candidates, force, _now())
        if not outcome.failed and not dry_run:
            transaction.apply(outcome.changes, checkout.journal)
    outcome.lines = summary_lines(outcome, checkout, candidates, dry_run)
    if recovered:
        outcome.lines.insert(1, f"  (first put back {len(recovered)} files an interrupted earlier import had left half-written)")
    if dry_run:
        outcome.diff = transaction.unified_diff(outcome.changes, checkout.root)
    return outcome


def _as_pull_requests(checkout: Checkout, candidates: Sequence[render.Candidate], force: bool,
                      prs: PullRequests) -> ImportOutcome:  # fmt: skip
    """Plan the import in groups of at most ``prs.lines`` changed lines, one after the other on one
    staging, and write each group's PR text and patch; the checkout itself is not written."""
    now = _now()
    outcome = plan(checkout, candidates, force, now)  # the whole import first: any conflict refuses all
    if outcome.failed:
        outcome.lines = summary_lines(outcome, checkout, candidates, dry_run=True)
        return outcome

    def size(c: render.Candidate) -> int:
        return pull_requests.changed_lines(plan(checkout, [c], force, now).changes)

    files, made = _Staging(), []
    for number, group in enumerate(pull_requests.groups(candidates, size, prs.lines), 1):
        before = dict(files.new)
        plan(checkout, group, force, now, files)
        changes = [transaction.FileChange(p, before[p] if p in before else files.old[p], text)
                   for p, text in files.new.items()]  # fmt: skip
        made.append(pull_requests.PullRequest(number, tuple(group), tuple(c for c in changes if c.changed)))
    texts = {}
    for pr in made:
        texts[prs.folder / f"{pr.name()}.md"] = pull_requests.pr_text(pr, len(made), prs.lines, prs.device)
        texts[prs.folder / f"{pr.name()}.patch"] = pull_requests.git_patch(pr.changes, checkout.root)
    transaction.apply([transaction.FileChange(p, transaction.read_text(p), text) for p, text in texts.items()])
    if prs.branch is not None:
        trailers = {"Imported-by": f"pytest-flaggems-import {__version__}", **dict(prs.provenance)}
        with transaction.locked(checkout.package):
            pull_requests.commit_on_branch(checkout.root, prs.branch, made, trailers, transaction.apply)
    outcome.changes = []
    outcome.lines = [f"import into {checkout.root} ({checkout.layout} layout: {checkout.why}) as {len(made)} pull "
                     f"request(s) of at most {prs.lines} changed lines, written to {prs.folder}"
                     + (f", committed on branch {prs.branch}" if prs.branch else "; checkout not written")]
    outcome.lines += [f"  {pr.name()}: {', '.join(c.op_id for c in pr.candidates)} ({pr.lines} lines)" for pr in made]
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
    lines = [f"import into {checkout.root} ({checkout.layout} layout: {checkout.why}): {verb}"]
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
        count = f"{len(mine)} operator" + ("s" if len(mine) != 1 else "")
        out += [f"**Batch {batch}** ({CRITERION[batch]}): {count} ({per_cat})", ""]
        out += ["| op | category | tests passed | selected because |", "| --- | --- | --- | --- |"]
        for c in mine:
            if c.validation.get("untested"):
                tests = "**untested** (imported with --allow-untested)"
            else:
                tests = f"{c.validation.get('passed')}/{c.validation.get('total')}"
            out.append(f"| `{c.spec.name.qualified}` | {c.category} | {tests} | {c.justification} |")
        out.append("")
    return "\n".join(out).rstrip("\n")


def import_decisions(
    decisions: Iterable[Decision], spec_paths: Mapping[str, Path], validation: Mapping[str, dict], rules: Rules,
    root: Path, layout: str, dry_run: bool, force: bool, prs: PullRequests | None = None,
) -> ImportOutcome:  # fmt: skip
    """The plugin's entry: import this session's selected operators (their tests passed here)."""
    chosen = sources.from_decisions(decisions, spec_paths, validation, rules)
    return import_candidates(chosen, root, layout, dry_run=dry_run, force=force, prs=prs)


REFUSAL_HELP = (
    "An operator is imported only on passing test evidence: run the plugin "
    "(pytest --flaggems-ops=DIR --flaggems-report-dir=D) and import D's selected files (session.json "
    "beside them, or --session), or pass --allow-untested for operators that have no evidence "
    "(recorded in _metadata.json and the PR text). Operators whose tests failed are never imported."
)


def run_import(
    selected: Sequence[Path], ops_dir: Path, root: Path, layout: str, dry_run: bool, force: bool,
    session: Path | None = None, allow_untested: bool = False, prs: PullRequests | None = None,
) -> ExitStatus:  # fmt: skip
    """The CLI's ``import`` command. All or nothing: one refused operator and nothing is written."""
    chosen, refused = sources.from_selected(selected, ops_dir, session, allow_untested)
    if refused:
        lines = ["import refused; nothing written"]
        lines += [f"  {op:<24} refused: {why}" for op, why in refused.items()]
        print("\n".join([*lines, "", REFUSAL_HELP]), file=sys.stdout)
        return ExitStatus.FAILED
    outcome = import_candidates(chosen, root, layout, dry_run=dry_run, force=force, prs=prs)
    print("\n".join([outcome.diff.rstrip("\n"), *outcome.lines] if outcome.diff else outcome.lines), file=sys.stdout)
    return ExitStatus.FAILED if outcome.failed else ExitStatus.OK
