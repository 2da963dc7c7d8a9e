"""An import as pull requests FlagGems' maintainers review: groups of operators whose changed
lines stay under a limit (~1000, their rule), each with a PR text and a ``git apply``-able patch.

The patches are cumulative: the first applies to the checkout as it is, each next one to the
checkout with the ones before it applied (they touch the same ``__init__.py`` files and
``operators.yaml``). Nothing in the checkout is written. An operator larger than the limit alone
gets a pull request of its own, and the text says so.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_flaggems_import.errors import FlaggemsError
from pytest_flaggems_import.importer import render
from pytest_flaggems_import.importer.transaction import FileChange, file_diff

DEFAULT_LINES = 1000


@dataclass(frozen=True)
class PullRequest:
    number: int
    candidates: tuple[render.Candidate, ...]
    changes: tuple[FileChange, ...]  # against the checkout with the earlier pull requests applied

    @property
    def lines(self) -> int:
        return changed_lines(self.changes)

    def name(self) -> str:
        return f"{self.number:02d}-{self.candidates[0].op_id}"

    def title(self) -> str:
        """In the form of FlagGems' own commits: "[KernelGen] Add <ops> operator(s) with Triton kernel"."""
        ops = [c.spec.name.base for c in self.candidates]
        return f"[KernelGen] Add {', '.join(ops)} operator{'s' if len(ops) > 1 else ''} with Triton kernel"


def changed_lines(changes: Sequence[FileChange]) -> int:
    """Lines added plus lines removed, as ``git diff --stat`` counts them."""
    total = 0
    for change in changes:
        # From the diff's opcodes, not its text: a line whose content starts with "---" or "++"
        # (a YAML document marker) reads like a file header in a unified diff.
        matcher = difflib.SequenceMatcher(None, (change.old or "").splitlines(), change.new.splitlines())
        for tag, old_from, old_to, new_from, new_to in matcher.get_opcodes():
            if tag != "equal":
                total += (old_to - old_from) + (new_to - new_from)
    return total


def groups(candidates: Sequence[render.Candidate], size: Callable[[render.Candidate], int], limit: int) -> list[list[render.Candidate]]:
    """Consecutive operators while their changed lines stay within ``limit`` (one alone may not)."""
    out: list[list[render.Candidate]] = []
    used = limit + 1
    for c in candidates:
        lines = size(c)
        if used + lines > limit:
            out.append([])
            used = 0
        out[-1].append(c)
        used += lines
    return out


def git_patch(changes: Sequence[FileChange], root: Path) -> str:
    """A patch ``git apply`` takes (``-p1``), new files included."""
    out = []
    for change in changes:
        name = os.path.relpath(change.path, root)
        out.append(f"diff --git a/{name} b/{name}\n")
        if change.old is None:
            out.append("new file mode 100644\n")
        out += file_diff(change, name)
    return "".join(out)


def pr_text(pr: PullRequest, total: int, limit: int, device: str) -> str:
    """The description: what was verified, the selection rule and numbers, and per operator the
    per-dtype x shape table in FlagGems' format."""
    out = [f"# {pr.title()}", "", f"Pull request {pr.number} of {total}: {pr.lines} changed lines (limit {limit})."]
    if pr.lines > limit:
        out.append(f"One operator alone changes more than {limit} lines; it is not split further.")
    out += ["", "Screened and imported by pytest-flaggems-import. Verified: each operator's own tests passed "
            f"in the screening session ({device}), its own Triton kernels ran in them, and it met the selection rule "
            "below.", ""]  # fmt: skip
    for c in pr.candidates:
        tests = f"{c.validation.get('passed')}/{c.validation.get('total')} tests passed"
        if c.validation.get("untested"):
            tests = "**untested** (imported with --allow-untested)"
        out += [f"## `{c.spec.name.qualified}` ({c.category})", "", f"- {tests}", f"- selected: {c.justification}", ""]
        out += _latency_table(c)
    return "\n".join(out).rstrip("\n") + "\n"


def _latency_table(c: render.Candidate) -> list[str]:
    configs = c.performance.get("configs") or []
    if not configs:
        return ["(no per-configuration numbers)", ""]
    batch1 = c.batch == 1
    head = "| Status | Torch Latency (ms) | Gems Latency (ms) | Gems Speedup |"
    head += " FlagGems Latency (ms) | Speedup vs FlagGems |" if batch1 else ""
    rows = [head + " Size Detail |", "| --- " * (7 if batch1 else 5) + "|"]
    for row in configs:
        your, cuda = row.get("your_time"), row.get("cuda_time")
        speedup = f"{cuda / your:.3f}" if isinstance(your, (int, float)) and isinstance(cuda, (int, float)) and your else "-"
        line = f"| SUCCESS | {cuda} | {your} | {speedup} |"
        if batch1:
            line += f" {row.get('flaggems_time')} | {row.get('speedup_vs_flaggems')} |"
        rows.append(line + f" [torch.Size({list(row.get('shape', []))})] {row.get('dtype')} |")
    return [*rows, ""]


def commit_message(pr: PullRequest, provenance: dict[str, str]) -> str:
    """The PR's title, its operators, and trailers saying what made it (``git interpret-trailers``)."""
    body = [f"- {c.spec.name.qualified} ({c.category}): {c.justification}" for c in pr.candidates]
    trailers = [f"{key}: {value}" for key, value in provenance.items()]
    return "\n".join([pr.title(), "", *body, "", *trailers]) + "\n"


def commit_on_branch(root: Path, branch: str, prs: Sequence[PullRequest], provenance: dict[str, str],
                     write: Callable[[Sequence[FileChange]], None]) -> None:  # fmt: skip
    """One commit per pull request on a new ``branch`` of the git checkout at ``root``, started
    from its current commit; the checkout ends on the branch it was on, its files as they were.
    Refuses (``GitError``) a checkout that is not a git work tree, has uncommitted changes, or
    already has ``branch``; a failure halfway removes the branch again."""
    git = _Git(root)
    if git.run("rev-parse", "--is-inside-work-tree", check=False).strip() != "true":
        raise GitError(f"{root} is not a git work tree: --flaggems-branch needs one")
    if git.run("status", "--porcelain", "--untracked-files=no").strip():
        raise GitError(f"{root} has uncommitted changes; commit or stash them first")
    if git.run("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).strip():
        raise GitError(f"{root} already has a branch {branch!r}")
    start = git.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip() or git.run("rev-parse", "HEAD").strip()
    git.run("switch", "--quiet", "-c", branch)
    try:
        for pr in prs:
            write(pr.changes)
            git.run("add", "--", *[os.path.relpath(c.path, git.top) for c in pr.changes])
            git.run("commit", "--quiet", "--no-verify", "-F", "-", stdin=commit_message(pr, provenance))
    except BaseException:
        git.run("reset", "--quiet", "--hard", check=False)
        git.run("switch", "--quiet", "--detach" if len(start) == 40 else "", start, check=False)
        git.run("branch", "--quiet", "-D", branch, check=False)
        raise
    git.run("switch", "--quiet", *(["--detach"] if len(start) == 40 else []), start)


class GitError(FlaggemsError):
    pass


class _Git:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = dict(os.environ)
        if not self.run("config", "user.email", check=False).strip():
            for who in ("AUTHOR", "COMMITTER"):  # git has no identity here (a CI machine): the tool's
                if f"GIT_{who}_EMAIL" not in self.env:  # unless the environment gives this one
                    self.env.setdefault(f"GIT_{who}_NAME", "pytest-flaggems-import")
                    self.env[f"GIT_{who}_EMAIL"] = "pytest-flaggems-import@localhost"
        self.top = Path(self.run("rev-parse", "--show-toplevel", check=False).strip() or root)

    def run(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        import subprocess

        command = ["git", "-C", str(self.root), *[a for a in args if a]]
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=self.env, check=False)
        if check and done.returncode != 0:
            raise GitError(f"{' '.join(command)}: {done.stderr.strip() or done.stdout.strip()}")
        return done.stdout
