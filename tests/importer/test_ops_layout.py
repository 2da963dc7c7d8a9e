"""The ``ops`` layout (SPEC 5, issue 11): an import makes the six-file change of FlagGems' own
"[KernelGen][Nvidia] Add <op> operator with Triton kernel" commits.

The checkout is built at test time from the flag-gems 5.0.2 wheel on PyPI (its
``flag_gems/__init__.py`` with ``_FULL_CONFIG`` and ``flag_gems/ops/__init__.py``), plus a small
hand-written ``conf/operators.yaml``. The expected neighbours of each inserted line are those of
FlagGems commit 89bbcf918 (logit_backward) and 8c1d01e08 (chalf), whose parents have the same
neighbours there as the wheel.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from corpus.build import download_wheel
from helpers import perf, session_json, write_json
from pytest_flaggems_import.cli import main
from pytest_flaggems_import.importer import ops_layout

OPERATORS_YAML = """\
# A FlagGems-style registry, written for this test.

ops:
  - id: celu
    description: Applies the CELU function element-wise.
    for:
      - celu
    labels:
      - aten
    kind:
      - NeuralNetwork
    stages:
      - stable: '2.1'
  - id: logit
    description: |
      Returns a new tensor with the logit of the elements of `input`.
    for:
      - logit
    labels:
      - aten
    kind:
      - Math
    stages:
      - beta: '5.0'
      - stable: '5.3'
  - id: logspace
    description: Creates a one-dimensional tensor of size `steps` spaced on a log scale.
    for:
      - logspace
    kind:
      - Tensor
    stages:
      - alpha: '5.4'
"""

LOGIT_BACKWARD = '''
import torch
import triton
import triton.language as tl


@triton.jit
def _logit_backward_kernel(grad_ptr, x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.5)
    g = tl.load(grad_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, g / (x * (1.0 - x)), mask=mask)


def logit_backward(grad_output, self, eps=None):
    out = torch.empty_like(self)
    n = self.numel()
    _logit_backward_kernel[(triton.cdiv(n, 256),)](grad_output, self, out, n, BLOCK=256)
    return out
'''
LOGIT_BACKWARD_TEST = """
import pytest
import torch

import flag_gems


@pytest.mark.logit_backward
def test_logit_backward():
    x = torch.rand(300, device=flag_gems.device) * 0.8 + 0.1
    grad = torch.randn_like(x)
    with flag_gems.use_gems():
        res = torch.ops.aten.logit_backward(grad, x)
    torch.testing.assert_close(res, torch.ops.aten.logit_backward(grad, x))
"""
CHALF = '''
import torch


def chalf(self, memory_format=None):
    """Casts a tensor to complex32."""
    return self.to(torch.complex32)
'''
SIX_FILES = [
    "benchmark/test_{stem}.py",
    "conf/operators.yaml",
    "src/flag_gems/__init__.py",
    "src/flag_gems/ops/__init__.py",
    "src/flag_gems/ops/{op}.py",
    "tests/test_{stem}.py",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return download_wheel(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def checkout(tmp_path, wheel):
    root = tmp_path / "FlagGems"
    with zipfile.ZipFile(wheel) as archive:
        for name in ("flag_gems/__init__.py", "flag_gems/ops/__init__.py"):
            target = root / "src" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    (root / "conf").mkdir()
    (root / "conf" / "operators.yaml").write_text(OPERATORS_YAML)
    return root


def selected_ops(tmp_path: Path, ops: dict[str, tuple[str, str | None]]) -> tuple[Path, Path]:
    folder = tmp_path / "ops"
    for op, (code, test) in ops.items():
        data = {"op_name": op, "code": code, "category": "pointwise"}
        if test:
            data["test_func"] = test
        write_json(folder / f"{op}.json", data)
    your = write_json(tmp_path / "your.json", perf({op: [([8], "fp32", 0.5, 1.0)] for op in ops}))
    out = tmp_path / "sel"
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", f"{out}/", "--quiet"]) == 0
    write_json(out / "session.json", session_json({op: (1, 0) for op in ops}))
    return folder, out / "selected_batch2.json"


def files_of(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}  # fmt: skip


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def inserted_lines(before: str, after: str) -> list[tuple[str, str, str]]:
    """(line before, inserted line, line after) for each line the edit added."""
    old, new = before.splitlines(), after.splitlines()
    out, i = [], 0
    for j, line in enumerate(new):
        if i < len(old) and old[i] == line:
            i += 1
        else:
            out.append((new[j - 1], line, new[j + 1] if j + 1 < len(new) else ""))
    return out


def test_an_import_is_the_six_file_change_of_a_kernelgen_commit(tmp_path, checkout, capsys):
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    before = files_of(checkout)
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 0
    assert "(ops layout: the checkout has conf/operators.yaml)" in capsys.readouterr().out
    after = files_of(checkout)
    assert changed(before, after) == sorted(p.format(op="logit_backward", stem="logit_backward") for p in SIX_FILES)
    # Where 89bbcf918 put each line:
    assert inserted_lines(before["src/flag_gems/ops/__init__.py"], after["src/flag_gems/ops/__init__.py"])[0] == (
        "from flag_gems.ops.logit_ import logit_",
        "from flag_gems.ops.logit_backward import logit_backward",
        "from flag_gems.ops.logspace import logspace",
    )
    assert inserted_lines(before["src/flag_gems/__init__.py"], after["src/flag_gems/__init__.py"]) == [
        ('    ("logit_", logit_),', '    ("logit_backward", logit_backward),', '    ("logspace", logspace),')
    ]
    _, name, _ = inserted_lines(before["src/flag_gems/ops/__init__.py"], after["src/flag_gems/ops/__init__.py"])[1]
    assert name == '    "logit_backward",'
    yaml = after["conf/operators.yaml"]
    assert yaml.index("  - id: logit\n") < yaml.index("  - id: logit_backward\n") < yaml.index("  - id: logspace\n")
    assert (
        "  - id: logit_backward\n    description: Triton kernel implementation for logit_backward.\n    for:\n"
        "      - logit_backward\n    labels:\n      - aten\n      - KernelGen\n    kind:\n      - Math\n"
        "    stages:\n      - alpha: '5.4'\n"
    ) in yaml  # the newest stage version in the file, as FlagGems gives new KernelGen operators
    assert after["src/flag_gems/ops/logit_backward.py"] == LOGIT_BACKWARD.lstrip("\n").rstrip("\n") + "\n"
    bench = after["benchmark/test_logit_backward.py"]
    assert "from . import base, consts" in bench and "base.BinaryPointwiseBenchmark(" in bench
    assert "torch_op=torch.ops.aten.logit_backward," in bench and "@pytest.mark.logit_backward" in bench
    for path in ("src/flag_gems/__init__.py", "src/flag_gems/ops/__init__.py", "benchmark/test_logit_backward.py",
                 "tests/test_logit_backward.py"):  # fmt: skip
        ast.parse(after[path])


def test_the_checkouts_own_text_stays_as_it_was_and_a_second_import_changes_nothing(tmp_path, checkout, capsys):
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST),
                                       "chalf": (CHALF, None)})  # fmt: skip
    before = files_of(checkout)
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]
    assert main(args) == 0
    after = files_of(checkout)
    for path in ("src/flag_gems/__init__.py", "src/flag_gems/ops/__init__.py", "conf/operators.yaml"):
        # Only lines were added: comments, blank lines and the formatting of the rest are untouched.
        removed = [line for line in before[path].splitlines() if line not in after[path].splitlines()]
        assert removed == [], path
    assert inserted_lines(before["src/flag_gems/__init__.py"], after["src/flag_gems/__init__.py"])[0] == (
        '    ("ceil.out", ceil_out),', '    ("chalf", chalf),', '    ("clamp", clamp),'
    )  # 8c1d01e08 put it after celu_'s entries: the wheel's list goes on with ceil.out there
    assert "    description: Casts a tensor to complex32.\n" in after["conf/operators.yaml"]
    assert "tests/test_chalf.py" not in after  # no test_func, no test file
    capsys.readouterr()
    assert main(args) == 0
    assert files_of(checkout) == after
    assert "wrote 0 files" in capsys.readouterr().out


def test_code_in_the_checkout_that_the_tool_did_not_write_is_a_conflict_even_with_force(tmp_path, checkout, capsys):
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    theirs = checkout / "src" / "flag_gems" / "ops" / "logit_backward.py"
    theirs.write_text("# FlagGems' own logit_backward\n")
    before = files_of(checkout)
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout), "--force"]
    assert main(args) == 1
    assert "did not write" in capsys.readouterr().out
    assert files_of(checkout) == before


@pytest.mark.parametrize(
    ("names", "new", "place"),
    [
        ([], "relu", 0),
        (["abs", "cos"], "acos", 1),
        (["abs", "cos"], "zeta", 2),
        # underscore names first, then the rest: a plain name goes among the plain ones,
        (["_is_all_true", "_safe_softmax", "abs", "logit_", "logspace"], "logit_backward", 4),
        # an underscore name among the underscore ones,
        (["_conj", "_cummin_helper", "abs", "conj_physical"], "_conj_copy", 1),
        (["_abs_x", "_conj", "_zeta", "abs", "cat", "conj_physical", "cos"], "_conj_copy", 2),
        # and a place in an unsorted stretch is still between two names it sorts between.
        (["b", "a", "d", "c"], "c", 2),
    ],
)
def test_sorted_place(names, new, place):
    assert ops_layout.sorted_position(names, new) == place


def test_overload_functions_become_aten_keys_but_kernels_and_helpers_do_not():
    code = (
        "import triton\n\n@triton.jit\ndef logit_kernel(x):\n    pass\n\n"
        "def logit(x):\n    pass\n\ndef logit_out(x, out):\n    pass\n\ndef logit_impl(x):\n    pass\n"
    )
    assert ops_layout.aten_keys(code, "logit", None, "logit") == {"logit": "logit", "logit.out": "logit_out"}
    assert ops_layout.file_stem("__rshift__") == "rshift" and ops_layout.file_stem("_conj_copy") == "conj_copy"


def test_layout_auto_detection_says_why(tmp_path, checkout, capsys):
    ops, sel = selected_ops(tmp_path, {"chalf": (CHALF, None)})
    (checkout / "conf" / "operators.yaml").unlink()
    before = files_of(checkout)
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout),
                 "--dry-run"]) == 0  # fmt: skip
    assert "(generated layout: the checkout has neither conf/operators.yaml nor experimental_ops/)" in (
        capsys.readouterr().out
    )
    assert files_of(checkout) == before  # a dry run


def test_an_operator_flaggems_already_has_is_a_conflict_not_a_second_registration(tmp_path, checkout, capsys):
    """The wheel's FlagGems registers ``ceil`` (``ops/ceil.py``): importing a generated ``ceil``
    would add a second ``from ... import ceil`` shadowing FlagGems' one (found on the GPU with
    ``frac``, which FlagGems defines in ``ops/frac_.py``)."""
    ceil = "import torch\n\n\ndef ceil(self):\n    return torch.ceil(self)\n"
    ops, sel = selected_ops(tmp_path, {"ceil": (ceil, None)})
    yaml = checkout / "conf" / "operators.yaml"
    yaml.write_text(yaml.read_text() + "  - id: ceil\n    for:\n      - ceil\n")  # and its registry has it
    before = files_of(checkout)
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 1
    out = capsys.readouterr().out
    assert "  ceil                     conflict: FlagGems already has this operator (_FULL_CONFIG registers 'ceil'; " \
        "conf/operators.yaml has id 'ceil')\n" in out
    assert files_of(checkout) == before


def test_an_import_as_pull_requests_of_limited_size_whose_patches_apply_in_turn(tmp_path, checkout, capsys):
    """``--flaggems-pr-dir``: groups within the line limit, each a PR text with FlagGems' latency
    table and a patch; applied one after the other with ``git apply`` they give the direct import."""
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST), "chalf": (CHALF, None)})
    direct = tmp_path / "direct"
    shutil.copytree(checkout, direct)
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(direct)]) == 0
    before = files_of(checkout)
    prs = tmp_path / "prs"
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout),
            "--flaggems-pr-dir", str(prs), "--flaggems-pr-lines", "70"]  # fmt: skip
    assert main(args) == 0
    assert "as 2 pull request(s) of at most 70 changed lines" in capsys.readouterr().out  # together: more
    assert files_of(checkout) == before  # the checkout is not written
    patches = sorted(prs.glob("*.patch"))
    assert [p.name for p in patches] == ["01-chalf.patch", "02-logit_backward.patch"]
    for patch in patches:
        changed_lines = sum(1 for line in patch.read_text().splitlines()
                            if line[:1] in "+-" and not line.startswith(("+++", "---")))  # fmt: skip
        assert changed_lines <= 70, patch.name
        subprocess.run(["git", "apply", str(patch)], cwd=checkout, check=True)
    assert files_of(checkout) == files_of(direct)
    text = (prs / "02-logit_backward.md").read_text()
    assert text.startswith("# [KernelGen] Add logit_backward operator with Triton kernel")
    assert "| Status | Torch Latency (ms) | Gems Latency (ms) | Gems Speedup | Size Detail |" in text
    assert "| SUCCESS | 1.0 | 0.5 | 2.000 | [torch.Size([8])] float32 |" in text


def test_the_pull_requests_summary_names_each_one_with_its_size_and_a_second_export_rewrites_them(
    tmp_path, checkout, capsys
):
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST), "chalf": (CHALF, None)})
    prs = tmp_path / "prs"
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout),
            "--flaggems-pr-dir", str(prs), "--flaggems-pr-lines", "70"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    sizes = {p.stem: sum(1 for line in p.read_text().splitlines()
                         if line[:1] in "+-" and not line.startswith(("+++ ", "--- ")))
             for p in prs.glob("*.patch")}  # fmt: skip
    head = next(i for i, line in enumerate(out) if line.startswith("import into "))
    assert out[head].endswith(f"as 2 pull request(s) of at most 70 changed lines, written to {prs}; checkout not written")
    assert out[head + 1 : head + 3] == [f"  01-chalf: chalf ({sizes['01-chalf']} lines)",
                                        f"  02-logit_backward: logit_backward ({sizes['02-logit_backward']} lines)"]  # fmt: skip
    assert "Pull request 1 of 2: " in (prs / "01-chalf.md").read_text()
    assert "Pull request 2 of 2: " in (prs / "02-logit_backward.md").read_text()
    written = {p.name: p.read_text() for p in prs.iterdir()}
    assert main(args) == 0  # the same export again: the files are rewritten, the same
    assert {p.name: p.read_text() for p in prs.iterdir()} == written


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env).stdout


def test_with_a_branch_each_pull_request_is_a_commit_with_provenance_and_the_work_tree_is_left_as_it_was(
    tmp_path, checkout, capsys
):
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST), "chalf": (CHALF, None)})
    direct = tmp_path / "direct"
    shutil.copytree(checkout, direct)
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(direct)]) == 0
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "base")
    before = files_of(checkout)
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout),
            "--flaggems-pr-dir", str(tmp_path / "prs"), "--flaggems-pr-lines", "70", "--flaggems-branch", "kernelgen"]  # fmt: skip
    assert main(args) == 0
    assert "committed on branch kernelgen" in capsys.readouterr().out
    assert git(checkout, "branch", "--show-current").strip() == "main"
    assert files_of(checkout) == before  # back on main, files as they were
    log = git(checkout, "log", "--format=%s%n%b---", "main..kernelgen")
    assert log.count("---") == 2 and "[KernelGen] Add logit_backward operator with Triton kernel" in log
    assert "Imported-by: pytest-flaggems-import" in log and "Session-sha256: " in log
    git(checkout, "switch", "-q", "kernelgen")
    assert files_of(checkout) == files_of(direct)
    # A second run may not reuse the branch: refused, nothing changed.
    git(checkout, "switch", "-q", "main")
    assert main(args) == 1
    assert "already has a branch 'kernelgen'" in capsys.readouterr().err


def branch_import(tmp_path, checkout, ops: dict) -> list[str]:
    """The import arguments for ``ops`` into ``checkout`` as commits on branch ``kernelgen``."""
    folder, sel = selected_ops(tmp_path, ops)
    return ["import", "--selected", str(sel), "--ops-dir", str(folder), "--flaggems-root", str(checkout),
            "--flaggems-pr-dir", str(tmp_path / "prs"), "--flaggems-pr-lines", "70", "--flaggems-branch", "kernelgen"]  # fmt: skip


def committed(checkout: Path) -> None:
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "base")


def test_a_branch_is_refused_outside_a_work_tree_and_with_uncommitted_changes_but_untracked_files_are_fine(
    tmp_path, checkout, capsys
):
    args = branch_import(tmp_path, checkout, {"chalf": (CHALF, None)})
    before = files_of(checkout)
    assert main(args) == 1
    assert f"{checkout} is not a git work tree: --flaggems-branch needs one" in capsys.readouterr().err
    assert files_of(checkout) == before
    committed(checkout)
    yaml = checkout / "conf" / "operators.yaml"
    yaml.write_text(yaml.read_text() + "# edited\n")
    assert main(args) == 1
    assert "has uncommitted changes; commit or stash them first" in capsys.readouterr().err
    assert git(checkout, "branch", "--list", "kernelgen") == ""
    git(checkout, "checkout", "--", "conf/operators.yaml")
    (checkout / "notes.txt").write_text("mine, untracked\n")
    assert main(args) == 0
    assert git(checkout, "status", "--porcelain") == "?? notes.txt\n"  # committed on the branch, not here


def test_a_branch_started_from_a_detached_head_leaves_the_checkout_detached_where_it_was(tmp_path, checkout):
    args = branch_import(tmp_path, checkout, {"chalf": (CHALF, None)})
    committed(checkout)
    head = git(checkout, "rev-parse", "HEAD").strip()
    git(checkout, "switch", "-q", "--detach", head)
    assert main(args) == 0
    assert git(checkout, "branch", "--show-current").strip() == ""  # still detached
    assert git(checkout, "rev-parse", "HEAD").strip() == head
    assert git(checkout, "rev-parse", "kernelgen~1").strip() == head


@pytest.mark.parametrize("detached", [False, True], ids=["on-main", "detached-head"])
def test_a_commit_failing_halfway_removes_the_branch_and_leaves_the_checkout_as_it_was(
    tmp_path, checkout, capsys, detached
):
    """The second pull request's commit fails (a prepare-commit-msg hook, which --no-verify does
    not skip, refuses it): the first commit is undone with the branch, the checkout is back on
    main, its files as they were."""
    ops = {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST), "chalf": (CHALF, None)}
    args = branch_import(tmp_path, checkout, ops)
    committed(checkout)
    head = git(checkout, "rev-parse", "HEAD").strip()
    if detached:
        git(checkout, "switch", "-q", "--detach", head)
    before = files_of(checkout)
    hook = checkout / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text('#!/bin/sh\nif grep -q logit_backward "$1"; then echo "refused by hook" >&2; exit 1; fi\n')
    hook.chmod(0o755)
    assert main(args) == 1
    assert "refused by hook" in capsys.readouterr().err
    assert "[KernelGen] Add chalf operator" in git(checkout, "reflog", "--format=%gs")  # the first was committed
    assert git(checkout, "branch", "--list", "kernelgen") == ""
    assert git(checkout, "branch", "--show-current").strip() == ("" if detached else "main")
    assert git(checkout, "rev-parse", "HEAD").strip() == head
    assert files_of(checkout) == before
    assert git(checkout, "status", "--porcelain", "--untracked-files=no") == ""


@pytest.mark.parametrize(
    ("identity", "author", "committer"),
    [
        ({}, "pytest-flaggems-import <pytest-flaggems-import@localhost>",
         "pytest-flaggems-import <pytest-flaggems-import@localhost>"),
        ({"config": ("Ada", "ada@example.org")}, "Ada <ada@example.org>", "Ada <ada@example.org>"),
        ({"GIT_AUTHOR_NAME": "Bo", "GIT_AUTHOR_EMAIL": "bo@example.org"}, "Bo <bo@example.org>",
         "pytest-flaggems-import <pytest-flaggems-import@localhost>"),
    ],
    ids=["no identity: the tool's", "the checkout's own", "author from the environment only"],
)  # fmt: skip
def test_a_branchs_commits_are_by_whoever_git_says_and_by_the_tool_where_git_knows_nobody(
    tmp_path, checkout, monkeypatch, identity, author, committer
):
    args = branch_import(tmp_path, checkout, {"chalf": (CHALF, None)})
    committed(checkout)  # (the helper's own identity, given to git directly)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.gitconfig, no system config
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    for who in ("AUTHOR", "COMMITTER"):
        for what in ("NAME", "EMAIL"):
            monkeypatch.delenv(f"GIT_{who}_{what}", raising=False)
    if "config" in identity:
        git(checkout, "config", "user.name", identity["config"][0])
        git(checkout, "config", "user.email", identity["config"][1])
    for name, value in identity.items():
        if name != "config":
            monkeypatch.setenv(name, value)
    assert main(args) == 0
    made = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%an <%ae>%n%cn <%ce>", "kernelgen"],
                          check=True, capture_output=True, text=True).stdout.splitlines()  # fmt: skip
    assert made == [author, committer]


def test_a_branchs_commits_skip_the_checkouts_commit_hooks(tmp_path, checkout):
    """FlagGems' hooks (pre-commit) want tools and a network a screening machine may lack; the
    pull requests are checked where they are reviewed. A hook that would refuse every commit."""
    args = branch_import(tmp_path, checkout, {"chalf": (CHALF, None)})
    committed(checkout)
    hook = checkout / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    assert main(args) == 0
    assert "[KernelGen] Add chalf operator" in git(checkout, "log", "-1", "--format=%s", "kernelgen")


def test_an_operators_own_benchmark_func_is_its_benchmark_file(tmp_path, checkout):
    bench = "import pytest\n\nfrom . import base, consts\n\n\n@pytest.mark.chalf\ndef test_chalf():\n    pass\n"
    ops, sel = selected_ops(tmp_path, {"chalf": (CHALF, None)})
    data = json.loads((ops / "chalf.json").read_text())
    (ops / "chalf.json").write_text(json.dumps({**data, "benchmark_func": bench}))
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 0
    assert (checkout / "benchmark" / "test_chalf.py").read_text() == bench


KILL_AT = """
import os, signal, sys
where, k = sys.argv[1], int(sys.argv[2])
real_replace, real_chmod = os.replace, os.chmod
count = [0]

def die():
    os.kill(os.getpid(), signal.SIGKILL)  # no rollback, no finally: as kill -9 or a power cut

def replace(src, dst):  # the journal first, then each target
    real_replace(src, dst)
    if where == "moved":
        count[0] += not str(dst).endswith("journal.json")
        if count[0] == k:
            die()

def chmod(path, mode):  # once per staged file
    real_chmod(path, mode)
    if where == "staged":
        count[0] += 1
        if count[0] == k:
            die()

os.replace, os.chmod = replace, chmod
from pytest_flaggems_import.cli import main
main(sys.argv[3:])
"""


@pytest.mark.subprocess
@pytest.mark.parametrize(("where", "k"), [("moved", 0), ("moved", 1), ("moved", 3), ("moved", 5), ("staged", 3)])
def test_an_import_killed_at_any_point_is_undone_by_the_next_run(tmp_path, checkout, capsys, where, k):
    """kill -9 after the journal (k=0) or after k of six files were moved into place, or while staging:
    the next run (a dry run here) puts the checkout back exactly as it was, leaves no file of the
    tool behind, and an import after it is exactly a clean import."""
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    direct = tmp_path / "direct"
    shutil.copytree(checkout, direct)
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root"]
    assert main([*args, str(direct)]) == 0
    before = files_of(checkout)
    killed = subprocess.run([sys.executable, "-c", KILL_AT, where, str(k), *args, str(checkout)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    if where == "moved" and k > 0:
        half = {path: text for path, text in files_of(checkout).items() if not Path(path).name.startswith(".")}
        assert len(changed(before, half)) == k  # k of the six files in place, the others not yet
    capsys.readouterr()
    assert main([*args, str(checkout), "--dry-run"]) == 0
    assert files_of(checkout) == before  # put back, and a dry run writes nothing more
    assert main([*args, str(checkout)]) == 0
    assert files_of(checkout) == files_of(direct)
    assert not [p for p in checkout.rglob("*") if p.name.endswith(".tmp") or "journal" in p.name]


@pytest.mark.subprocess
def test_concurrent_imports_with_other_temp_folders_and_root_spellings_lose_nothing(tmp_path, checkout):
    """Two imports into one checkout at once, one naming it ROOT with its own TMPDIR, the other
    ROOT/src with another: the lock is the checkout's own, so both operators end up registered."""
    first = selected_ops(tmp_path / "a", {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    second = selected_ops(tmp_path / "b", {"chalf": (CHALF, None)})
    for round_ in range(4):
        root = tmp_path / f"round{round_}"
        shutil.copytree(checkout, root)
        procs = []
        for (ops, sel), spelling, tmp in ((first, root, "ta"), (second, root / "src", "tb")):
            (tmp_path / tmp).mkdir(exist_ok=True)
            command = [sys.executable, "-m", "pytest_flaggems_import.cli", "import", "--selected", str(sel),
                       "--ops-dir", str(ops), "--flaggems-root", str(spelling)]  # fmt: skip
            env = {**os.environ, "TMPDIR": str(tmp_path / tmp)}
            procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
        for proc in procs:
            out, _ = proc.communicate(timeout=300)
            assert proc.returncode == 0, out.decode()[-2000:]
        top = (root / "src" / "flag_gems" / "__init__.py").read_text()
        assert '("logit_backward", logit_backward),' in top and '("chalf", chalf),' in top
        yaml = (root / "conf" / "operators.yaml").read_text()
        assert "  - id: logit_backward\n" in yaml and "  - id: chalf\n" in yaml


def test_pull_requests_over_an_operator_the_checkout_has_need_force_and_carry_the_new_code(tmp_path, checkout, capsys):
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 0
    newer = LOGIT_BACKWARD + "\n\n# tuned\n"
    ops, sel = selected_ops(tmp_path / "again", {"logit_backward": (newer, LOGIT_BACKWARD_TEST)})
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout),
            "--flaggems-pr-dir", str(tmp_path / "prs")]  # fmt: skip
    assert main(args) == 1
    assert "conflict: the checkout has different code for it (use --force)" in capsys.readouterr().out
    assert not (tmp_path / "prs").exists()
    assert main([*args, "--force"]) == 0
    (patch,) = (tmp_path / "prs").glob("*.patch")
    assert "+# tuned" in patch.read_text()


def test_an_operator_without_tests_imported_before_is_recognised_by_its_benchmark_and_replaced_with_force(
    tmp_path, checkout, capsys
):
    ops, sel = selected_ops(tmp_path, {"chalf": (CHALF, None)})
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 0
    two_inputs = CHALF.replace("def chalf(self, memory_format=None):", "def chalf(self, other):")
    ops, sel = selected_ops(tmp_path / "again", {"chalf": (two_inputs, None)})
    args = ["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]
    assert main(args) == 1
    assert "conflict: the checkout has different code for it (use --force)" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "chalf                    replaced (--force)" in capsys.readouterr().out
    benchmark = (checkout / "benchmark" / "test_chalf.py").read_text()
    assert "BinaryPointwiseBenchmark" in benchmark  # rewritten for the new code's two tensors
    # a benchmark a maintainer edited is theirs: the operator is no longer recognised as ours
    (checkout / "benchmark" / "test_chalf.py").write_text(benchmark + "# tuned by hand\n")
    ops, sel = selected_ops(tmp_path / "third", {"chalf": (CHALF, None)})
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout), "--force"]) == 1
    assert "FlagGems already has this operator" in capsys.readouterr().out


def test_each_ops_import_says_what_it_does_to_the_operators_test_file(tmp_path, checkout, capsys):
    """The test file has its own status, combined with the code's: someone else's file of that
    name is a conflict, ours with other tests needs --force, and a test-file header is what makes
    an operator with changed code ours."""
    def imported(tag, test, *extra, code=LOGIT_BACKWARD):
        ops, sel = selected_ops(tmp_path / tag, {"logit_backward": (code, test)})
        rc = main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout), *extra])
        (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  logit_backward")]
        return rc, line.split(maxsplit=1)[1]

    theirs = checkout / "tests" / "test_logit_backward.py"
    theirs.parent.mkdir()
    theirs.write_text("# FlagGems' own test\n")
    their_code = checkout / "src" / "flag_gems" / "ops" / "logit_backward.py"
    their_code.write_text("# FlagGems' own logit_backward\n")
    assert imported("theirs", LOGIT_BACKWARD_TEST, "--force") == (
        1, "conflict: the checkout has a code file of that name that pytest-flaggems-import did not write")
    their_code.unlink()
    assert imported("their-test", LOGIT_BACKWARD_TEST, "--force") == (
        1, "conflict: the checkout has a tests file of that name that pytest-flaggems-import did not write")
    theirs.unlink()
    assert imported("first", LOGIT_BACKWARD_TEST) == (0, "new")
    other_test = LOGIT_BACKWARD_TEST + "\n# one more case\n"
    assert imported("other-test", other_test) == (1, "conflict: the checkout has different tests for it (use --force)")
    assert imported("other-test-forced", other_test, "--force") == (0, "updated")
    # Code and benchmark changed by hand in the checkout: ours by the test file's header alone,
    # so --force replaces the code.
    code = checkout / "src" / "flag_gems" / "ops" / "logit_backward.py"
    code.write_text(code.read_text() + "# edited\n")
    benchmark = checkout / "benchmark" / "test_logit_backward.py"
    benchmark.write_text(benchmark.read_text() + "# tuned\n")
    assert imported("forced", other_test, "--force") == (0, "replaced (--force)")
    assert "# edited" not in code.read_text()


def test_an_operator_without_tests_imported_again_is_unchanged(tmp_path, checkout, capsys):
    for tag in ("first", "again"):
        ops, sel = selected_ops(tmp_path / tag, {"chalf": (CHALF, None)})
        assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 0
    assert "  chalf                    unchanged\n" in capsys.readouterr().out


def test_a_symlinked_folder_leading_out_of_the_checkout_is_a_conflict(tmp_path, checkout, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (checkout / "tests").symlink_to(elsewhere)
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 1
    out = capsys.readouterr().out
    assert f"conflict: {checkout / 'tests' / 'test_logit_backward.py'} would be written outside the checkout" in out
    assert not list(elsewhere.iterdir())


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (lambda root: (root / "conf" / "operators.yaml").write_text("ops:\n  - id: celu\n    for:\n      - celu\n"),
         "conf/operators.yaml", "no stage version to give new operators (alpha: '<newest>')"),
        (lambda root: (root / "src" / "flag_gems" / "__init__.py").write_text('"""A FlagGems without _FULL_CONFIG."""\n'),
         "src/flag_gems/__init__.py",
         "cannot add the operators: no literal _FULL_CONFIG = [...] or (...) at module level"),
    ],
    ids=["no-stage-version", "no-full-config"],
)  # fmt: skip
def test_a_checkout_the_ops_layout_cannot_extend_is_an_input_error_naming_the_file(tmp_path, checkout, capsys,
                                                                                   edit, where, message):  # fmt: skip
    edit(checkout)
    ops, sel = selected_ops(tmp_path, {"logit_backward": (LOGIT_BACKWARD, LOGIT_BACKWARD_TEST)})
    before = files_of(checkout)
    assert main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(checkout)]) == 2
    assert f"{checkout / where}: {message}" in capsys.readouterr().err
    assert files_of(checkout) == before
