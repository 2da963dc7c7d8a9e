"""The ``flaggems-import`` command: validate, select, import, merge and report without a test run (SPEC §6).

An argparse front end over ``core`` and ``importer``; the options shared with the plugin come
from ``core.settings.OPTIONS``. ``main()`` returns an ``ExitStatus`` and never raises for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_flaggems_import import __version__
from pytest_flaggems_import.core import formats, jsonio, reports, selection
from pytest_flaggems_import.core.formats import selected_name
from pytest_flaggems_import.core.settings import BY_NAME, make_rules
from pytest_flaggems_import.errors import ExitStatus, FlaggemsError, InputError, InputErrors, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(ExitStatus.USAGE)


DESCRIPTION = (
    "Validate operator and perf files, select operators from perf files, and import selected operators "
    "into a FlagGems checkout, without a test run. Screening (running the operators' tests) is the pytest "
    "plugin's job: pytest --flaggems-ops=DIR."
)


def _add_shared(sub: argparse.ArgumentParser, *names: str) -> None:
    """Options of the shared table (core.settings.OPTIONS), parsed there, helped here."""
    for name in names:
        option = BY_NAME[name]
        kwargs: dict[str, Any] = {"dest": name, "help": option.cli_help or option.help}
        if option.is_flag:
            kwargs["action"] = "store_true"
        else:
            kwargs["default"] = None
        sub.add_argument(*option.cli_flags, **kwargs)


def _parse(name: str, value: Any) -> Any:
    """A value through its option's parser (core.settings), an error naming the CLI's flag."""
    option = BY_NAME[name]
    try:
        return option.parse(value)
    except UsageError as exc:
        raise UsageError(f"{option.cli_flags[-1]}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="flaggems-import", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subs = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    val = subs.add_parser("validate", help="Check files against the published schemas.")
    val.add_argument("paths", nargs="+", type=Path, help="Files or folders (folders: every *.json).")
    val.add_argument("--kind", choices=formats.KINDS, help="Kind of every file. Default: detected.")

    sel = subs.add_parser("select", help="Apply the selection rules to perf files.")
    _add_shared(sel, "batch", "your_data", "flaggems_data", "threshold", "aggregate", "allow_implausible")
    sel.add_argument(
        "--output", required=True, help="selected_batchN.json, or a folder for both batches (needed with --batch auto)."
    )
    sel.add_argument("--quiet", action="store_true", help="Print nothing but errors.")
    sel.add_argument("--json", action="store_true", help="Print the decisions as JSON on stdout.")

    imp = subs.add_parser("import", help="Import selected operators into a FlagGems checkout.")
    imp.add_argument("--selected", required=True, type=Path, nargs="+", help="selected_batchN.json file(s).")
    imp.add_argument("--ops-dir", required=True, type=Path, help="Folder of operator JSON files.")
    imp.add_argument("--flaggems-root", required=True, type=Path, help="Checkout holding src/flag_gems or flag_gems.")
    _add_shared(imp, "layout")
    imp.add_argument(
        "--session",
        type=Path,
        help="session.json whose test outcomes are the evidence. Default: session.json beside the selected file.",
    )
    _add_shared(imp, "allow_untested", "pr_dir", "pr_lines", "branch")
    imp.add_argument("--dry-run", action="store_true", help="Show the diff; write nothing.")
    imp.add_argument("--force", action="store_true", help="Overwrite operators whose code differs.")

    mer = subs.add_parser("merge", help="Join the session files of CI shards (--flaggems-shard) into one run's files.")
    mer.add_argument("sessions", nargs="+", type=Path, help="Each shard's session.json.")
    mer.add_argument("--output", required=True, type=Path,
                     help="Folder for session.json, selected_batch1/2.json, selection.md and the reports.")  # fmt: skip

    rep = subs.add_parser("report", help="Rebuild report.html and report.md from session files; runs nothing.")
    rep.add_argument("sessions", nargs="+", type=Path, help="session.json files (several: merged, e.g. CI shards).")
    rep.add_argument("--out", required=True, type=Path, help="Folder for report.html, report.md and charts/.")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except InputErrors as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
    except (InputError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except (FlaggemsError, OSError) as exc:
        # OSError: the import was rolled back (transaction.apply), the checkout is as before.
        print(f"error: {exc}", file=sys.stderr)
        return ExitStatus.FAILED
    return ExitStatus.USAGE


def _json_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.json") if p.is_file())
        else:
            files.append(path)
    return files


def cmd_validate(args: argparse.Namespace) -> ExitStatus:
    problems: list[InputError] = []
    files = _json_files(args.paths)
    seen: dict[str, Any] = {"operator": [], "your_perf": None, "flaggems_perf": None}
    for path in files:
        kind, found, content = _check_file(path, args.kind)
        problems += found
        if kind is None:
            continue
        if isinstance(content, formats.OperatorSpec):
            seen["operator"].append(content.op)
            for warning in formats.operator_warnings(content):
                print(f"warning: {warning}", file=sys.stderr)
        elif content is not None:
            seen[kind] = content
        print(f"{'ok  ' if not found else 'FAIL'} {path} ({kind})")
    if seen["operator"] and seen["your_perf"] is not None:
        for warning in formats.cross_warnings(seen["operator"], seen["your_perf"], seen["flaggems_perf"]):
            print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"{len(files)} files checked, {len(problems)} problems")
    return ExitStatus.USAGE if problems else ExitStatus.OK


def _check_file(path: Path, kind: str | None) -> tuple[str | None, list[InputError], Any]:
    """One file's kind, its problems and, when it has none, what it holds (a perf table, an
    ``OperatorSpec``). A perf file known by its name is read as ``select`` reads it."""
    kind = kind or formats.detect_kind(path, None)  # from the file name alone
    try:
        if kind in formats.TIME_KEY:
            return kind, [], formats.load_perf(path, kind)
        data = jsonio.read_json(path)
    except InputErrors as exc:
        return kind, list(exc.problems), None
    except InputError as exc:
        return kind, [exc], None
    kind = kind or formats.detect_kind(path, data)
    if kind is None:
        return None, [InputError(path, "$", "cannot tell what kind of file this is; give --kind")], None
    found = formats.validate(kind, data, path)
    if found or kind not in ("operator", *formats.TIME_KEY):
        return kind, found, None
    if kind == "operator":
        return kind, [], formats.operator_from_data(data, path)
    return kind, [], formats.perf_from_data(data, kind)


def _load_tables(args: argparse.Namespace) -> tuple[formats.PerfTable, formats.PerfTable | None]:
    if args.your_data is None:
        raise UsageError("select needs --your-data F")
    errors: list[InputError] = []
    tables: list[formats.PerfTable | None] = []
    for path, kind in ((args.your_data, "your_perf"), (args.flaggems_data, "flaggems_perf")):
        if path is None:
            tables.append(None)
            continue
        try:
            tables.append(formats.load_perf(path, kind))
        except InputErrors as exc:
            errors += exc.problems
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise InputErrors(errors)
    return tables[0], tables[1]  # type: ignore[return-value]


def _outputs(text: str, batch: str | None) -> dict[int, Path]:
    output = Path(text)  # kept as text until here: Path() drops the trailing "/" that marks a folder
    as_folder = output.is_dir() or text.endswith(("/", "\\")) or batch == "auto"
    if as_folder:
        # Only the batches this run decided: `--batch 1` never empties a selected_batch2.json
        # that an earlier `--batch 2` run wrote into the same folder.
        batches = (1, 2) if batch == "auto" else (int(batch),)  # type: ignore[arg-type]
        return {b: output / selected_name(b) for b in batches}
    if batch not in ("1", "2"):
        raise UsageError("--output names one file; with --batch auto give a folder")
    return {int(batch): output}


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Hold the cyclic GC off while ``select`` builds its tables and files.

    Those are up to a million small objects that all live until the command ends; the GC's full
    passes over them free nothing and cost 20 % of the run. Nothing here makes reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def cmd_select(args: argparse.Namespace) -> ExitStatus:
    with _gc_paused():
        return _select(args)


def _select(args: argparse.Namespace) -> ExitStatus:
    if args.batch is None:
        raise UsageError("select needs --batch 1, 2 or auto")
    batch = _parse("batch", args.batch)
    threshold = _parse("threshold", args.threshold) if args.threshold else None
    rules = make_rules(batch, threshold, _parse("aggregate", args.aggregate or "mean"),
                       allow_implausible=bool(getattr(args, "allow_implausible", False)))  # fmt: skip
    outputs = _outputs(args.output, batch)
    your, flaggems = _load_tables(args)
    decisions = selection.select(your, flaggems, rules)
    provenance = {
        "tool": f"pytest-flaggems-import {__version__}",
        "your_data": str(args.your_data),
        "flaggems_data": str(args.flaggems_data) if args.flaggems_data else None,
        "measured_by": "perf files (not re-measured)",
    }
    for batch_no, path in outputs.items():
        data = reports.selected_file(decisions, batch_no, rules, provenance)
        jsonio.write_json(path, data)
    if args.json:
        print(jsonio.dumps([reports.decision_dict(d) for d in decisions]), end="")
    elif not args.quiet:
        print("\n".join(reports.summary_lines(decisions, rules)))
        print("wrote " + ", ".join(str(p) for p in outputs.values()))
    return ExitStatus.OK


def cmd_import(args: argparse.Namespace) -> ExitStatus:
    from pytest_flaggems_import.importer import PullRequests, run_import
    from pytest_flaggems_import.importer.sources import session_file

    prs = None
    if args.branch is not None and args.pr_dir is None:
        raise UsageError("--flaggems-branch needs --flaggems-pr-dir (it commits those pull requests)")
    if args.pr_dir is not None:
        session = session_file(args.selected[0], args.session)
        digest = hashlib.sha256(session.read_bytes()).hexdigest() if session.is_file() else "none"
        prs = PullRequests(_parse("pr_dir", args.pr_dir), _parse("pr_lines", args.pr_lines or 1000),
                           branch=args.branch, provenance=(("Session-sha256", digest),))  # fmt: skip
    return run_import(
        selected=args.selected,
        ops_dir=args.ops_dir,
        root=args.flaggems_root,
        layout=_parse("layout", args.layout or "auto"),
        dry_run=args.dry_run,
        force=args.force,
        session=args.session,
        allow_untested=args.allow_untested,
        prs=prs,
    )


def cmd_merge(args: argparse.Namespace) -> ExitStatus:
    from pytest_flaggems_import.core import shards
    from pytest_flaggems_import.report import write_folder

    sessions = [formats.load_checked(path, "session") for path in args.sessions]
    merged, decisions = shards.merge([(str(path), s) for path, s in zip(args.sessions, sessions, strict=True)])
    write_folder(args.output, merged, decisions, shards.rules_from_dict(merged["rules"]))
    chosen = sum(d.selected for d in decisions)
    print(f"{args.output}: {len(decisions)} operators from {len(sessions)} shard(s), {chosen} selected")
    return ExitStatus.OK


def cmd_report(args: argparse.Namespace) -> ExitStatus:
    from pytest_flaggems_import.report import REPORT_HTML, write_report

    sessions = [formats.load_checked(path, "session") for path in args.sessions]  # all read before anything is written
    report = write_report(sessions, args.out, [str(path) for path in args.sessions])
    chosen = sum(len(report.selected(b)) for b in (1, 2))
    print(f"{args.out / REPORT_HTML}: {report.operators} operators from {len(sessions)} session file(s), {chosen} selected")
    return ExitStatus.OK


_COMMANDS = {"validate": cmd_validate, "select": cmd_select, "import": cmd_import, "merge": cmd_merge,
             "report": cmd_report}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
