"""``importer.pull_requests`` on its own: the changed-line count that sizes pull requests, how
operators are packed under the limit, the patches ``git apply`` takes, and the PR texts'
exact wording (reviewers read them; the tests of whole imports check their shape)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import ADD_ONE_CODE
from pytest_flaggems_import.core import formats
from pytest_flaggems_import.importer import pull_requests
from pytest_flaggems_import.importer.pull_requests import PullRequest, changed_lines, git_patch, groups, pr_text
from pytest_flaggems_import.importer.render import Candidate
from pytest_flaggems_import.importer.transaction import FileChange


def candidate(op: str = "add_one", batch: int = 2, configs: list | None = None, **validation) -> Candidate:
    spec = formats.operator_from_data({"op_name": op, "code": ADD_ONE_CODE.format(entry=op)}, f"{op}.json")
    return Candidate(spec, "pointwise", batch, f"{op} is fast", f"{op}.json",
                     performance={"configs": configs or []}, validation=validation or {"passed": 3, "total": 3})  # fmt: skip


def git_numstat(tmp_path: Path, old: str, new: str) -> int:
    (tmp_path / "old").write_text(old)
    (tmp_path / "new").write_text(new)
    out = subprocess.run(["git", "diff", "--no-index", "--numstat", "old", "new"], cwd=tmp_path,
                         capture_output=True, text=True).stdout  # fmt: skip
    added, removed = out.split()[:2] if out else ("0", "0")
    return int(added) + int(removed)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (None, "a\nb\nc\n"),  # a new file: every line
        ("a\nb\nc\n", "a\nB\nc\nd\n"),  # one replaced, one added
        ("a\nb\n", "a\nb\n"),  # unchanged
        ("x\n---\ny\n", "x\ny\n"),  # a removed YAML document marker is a removed line
        ("x\n", "x\n++y\n--z\n"),  # added lines that start like diff headers
    ],
)
def test_changed_lines_are_counted_as_git_counts_them(tmp_path, old, new):
    change = FileChange(tmp_path / "f.py", old, new)
    assert changed_lines([change]) == git_numstat(tmp_path, old or "", new)
    assert changed_lines([change, FileChange(tmp_path / "g.py", None, "one\n")]) == git_numstat(tmp_path, old or "", new) + 1


def test_operators_are_packed_in_order_while_their_lines_fit_and_one_too_large_stands_alone():
    sizes = {"a": 400, "b": 600, "c": 1, "d": 1500, "e": 0, "f": 999}
    packed = groups(list(sizes), sizes.__getitem__, 1000)
    assert packed == [["a", "b"], ["c"], ["d"], ["e", "f"]]  # 400 + 600 is exactly the limit
    assert groups(["e"], sizes.__getitem__, 1000) == [["e"]]  # an empty change still gets its pull request
    assert groups([], sizes.__getitem__, 1000) == []


def test_a_patch_applies_with_git_apply_new_files_and_missing_final_newlines_included(tmp_path):
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "kept.py").write_text("a = 1\nb = 2")  # no final newline
    changes = [FileChange(root / "kept.py", "a = 1\nb = 2", "a = 1\nb = 3\nc = 4"),
               FileChange(root / "pkg" / "new.py", None, "x = 1\n")]  # fmt: skip
    patch = git_patch(changes, root)
    assert "new file mode 100644\n" in patch and "--- /dev/null\n+++ b/pkg/new.py\n" in patch
    assert "\\ No newline at end of file\n" in patch
    subprocess.run(["git", "apply", "-"], cwd=root, input=patch, text=True, check=True, capture_output=True)
    assert (root / "kept.py").read_text() == "a = 1\nb = 3\nc = 4"
    assert (root / "pkg" / "new.py").read_text() == "x = 1\n"


def pr(*candidates: Candidate, lines: int = 5, tmp: Path = Path("/checkout")) -> PullRequest:
    return PullRequest(2, candidates, (FileChange(tmp / "f.py", None, "x\n" * lines),))


def test_a_pull_requests_title_names_its_operators_as_flaggems_commits_do():
    assert pr(candidate("add_one")).title() == "[KernelGen] Add add_one operator with Triton kernel"
    two = pr(candidate("add_one"), candidate("add_two"))
    assert two.title() == "[KernelGen] Add add_one, add_two operators with Triton kernel"
    assert two.name() == "02-add_one"


def test_the_pr_text_says_what_was_verified_and_gives_each_operators_numbers_batch_2():
    configs = [{"shape": [8], "dtype": "float32", "your_time": 0.5, "cuda_time": 1.0},
               {"shape": [4, 4], "dtype": "float16", "your_time": 0, "cuda_time": 1.0},
               {"shape": [2], "dtype": "float16", "cuda_time": 1.0}]  # fmt: skip
    text = pr_text(pr(candidate("add_one", configs=configs), lines=5), 3, 1000, "cuda")
    assert text == (
        "# [KernelGen] Add add_one operator with Triton kernel\n"
        "\n"
        "Pull request 2 of 3: 5 changed lines (limit 1000).\n"
        "\n"
        "Screened and imported by pytest-flaggems-import. Verified: each operator's own tests passed in the "
        "screening session (cuda), its own Triton kernels ran in them, and it met the selection rule below.\n"
        "\n"
        "## `aten::add_one` (pointwise)\n"
        "\n"
        "- 3/3 tests passed\n"
        "- selected: add_one is fast\n"
        "\n"
        "| Status | Torch Latency (ms) | Gems Latency (ms) | Gems Speedup | Size Detail |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| SUCCESS | 1.0 | 0.5 | 2.000 | [torch.Size([8])] float32 |\n"
        "| SUCCESS | 1.0 | 0 | - | [torch.Size([4, 4])] float16 |\n"
        "| SUCCESS | 1.0 | None | - | [torch.Size([2])] float16 |\n"
    )


def test_the_pr_text_of_batch_1_adds_flaggems_columns_and_says_when_one_operator_is_over_the_limit():
    configs = [{"shape": [8], "dtype": "float32", "your_time": 0.25, "cuda_time": 1.0, "flaggems_time": 0.5,
                "speedup_vs_flaggems": 2.0}]  # fmt: skip
    text = pr_text(pr(candidate("add_one", batch=1, configs=configs), lines=12), 1, 10, "cpu")
    assert "Pull request 2 of 1: 12 changed lines (limit 10).\nOne operator alone changes more than 10 lines; it is not split further.\n" in text
    assert ("| Status | Torch Latency (ms) | Gems Latency (ms) | Gems Speedup | FlagGems Latency (ms) | "
            "Speedup vs FlagGems | Size Detail |\n" + "| --- " * 7 + "|\n"
            "| SUCCESS | 1.0 | 0.25 | 4.000 | 0.5 | 2.0 | [torch.Size([8])] float32 |\n") in text  # fmt: skip
    assert "One operator alone" not in pr_text(pr(candidate(configs=configs), lines=10), 1, 10, "cpu")


def test_the_pr_text_marks_an_untested_operator_and_one_without_numbers():
    text = pr_text(pr(candidate("add_one", untested=True)), 1, 1000, "cpu")
    assert "- **untested** (imported with --allow-untested)\n" in text and "tests passed" not in text.split("##")[1]
    assert text.endswith("- selected: add_one is fast\n\n(no per-configuration numbers)\n")


def test_a_commit_message_is_the_title_the_operators_and_the_provenance_as_trailers():
    message = pull_requests.commit_message(pr(candidate("add_one"), candidate("add_two")),
                                           {"Imported-by": "pytest-flaggems-import", "Session-sha256": "ab12"})  # fmt: skip
    assert message == (
        "[KernelGen] Add add_one, add_two operators with Triton kernel\n\n"
        "- aten::add_one (pointwise): add_one is fast\n- aten::add_two (pointwise): add_two is fast\n\n"
        "Imported-by: pytest-flaggems-import\nSession-sha256: ab12\n"
    )


def test_a_dry_runs_diff_applies_and_shows_only_the_changed_files(tmp_path):
    """``import --dry-run``'s diff (``transaction.unified_diff``): unchanged files are left out
    wherever they come, a new file is ``/dev/null`` against ``b/``, a new empty file is named, and
    a file without a final newline gets git's marker: the whole diff applies."""
    from pytest_flaggems_import.importer.transaction import unified_diff

    root = tmp_path / "checkout"
    root.mkdir()
    (root / "same.py").write_text("s = 1\n")
    (root / "kept.py").write_text("a = 1\nb = 2")
    changes = [FileChange(root / "same.py", "s = 1\n", "s = 1\n"),
               FileChange(root / "kept.py", "a = 1\nb = 2", "a = 1\nb = 3"),
               FileChange(root / "pkg" / "new.py", None, "x = 1\n"),
               FileChange(root / "pkg" / "__init__.py", None, "")]  # fmt: skip
    diff = unified_diff(changes, root)
    assert "same.py" not in diff and "--- a/kept.py\n+++ b/kept.py\n" in diff
    assert "--- /dev/null\n+++ b/pkg/new.py\n" in diff and "new empty file b/pkg/__init__.py\n" in diff
    assert diff.count("\\ No newline at end of file\n") == 2  # the old last line and the new one
    applicable = diff.replace("new empty file b/pkg/__init__.py\n", "")
    subprocess.run(["git", "apply", "-"], cwd=root, input=applicable, text=True, check=True, capture_output=True)
    assert (root / "kept.py").read_text() == "a = 1\nb = 3" and (root / "pkg" / "new.py").read_text() == "x = 1\n"


def test_the_pull_request_summary_word_for_word():
    """What a maintainer pastes into the PR description: per batch, its criterion, counts by
    category, one row per operator (batch 2 after batch 1, an untested one said so)."""
    from dataclasses import replace

    from pytest_flaggems_import.importer import pull_request_summary

    abs_ = replace(candidate("abs_v2", batch=1), category="pointwise")
    sum_ = replace(candidate("sum_v2", batch=1, passed=7, total=9), category="reduction")
    cos = replace(candidate("cos_v3", batch=1, passed=1, total=1), category="pointwise")
    exp = candidate("exp_v2", batch=2, untested=True)
    assert pull_request_summary([exp, abs_, sum_, cos]) == (
        "### Generated operators imported by pytest-flaggems-import\n"
        "\n"
        "**Batch 1** (speedup_vs_flaggems): 3 operators (2 pointwise, 1 reduction)\n"
        "\n"
        "| op | category | tests passed | selected because |\n"
        "| --- | --- | --- | --- |\n"
        "| `aten::abs_v2` | pointwise | 3/3 | abs_v2 is fast |\n"
        "| `aten::sum_v2` | reduction | 7/9 | sum_v2 is fast |\n"
        "| `aten::cos_v3` | pointwise | 1/1 | cos_v3 is fast |\n"
        "\n"
        "**Batch 2** (relative_to_cuda): 1 operator (1 pointwise)\n"
        "\n"
        "| op | category | tests passed | selected because |\n"
        "| --- | --- | --- | --- |\n"
        "| `aten::exp_v2` | pointwise | **untested** (imported with --allow-untested) | exp_v2 is fast |"
    )
    assert pull_request_summary([exp]).startswith("### Generated operators imported by pytest-flaggems-import\n\n**Batch 2**")
