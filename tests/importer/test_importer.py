"""The importer on real FlagGems-shaped trees written to disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ADD_ONE_CODE, operator_json, perf, session_json, write_json
from pytest_flaggems_import import importer
from pytest_flaggems_import.cli import main
from pytest_flaggems_import.errors import InputError
from pytest_flaggems_import.importer.layout import find_checkout
from pytest_flaggems_import.runner.isolate import STANDINS

GENERATED = Path("src/flag_gems/experimental/generated")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def checkout(tmp_path):
    """A FlagGems-shaped checkout whose flag_gems package is importable on the CPU."""
    root = tmp_path / "FlagGems"
    shutil.copytree(STANDINS / "flag_gems", root / "src" / "flag_gems", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def selected(tmp_path):
    """ops/ with two operators and a selected_batch2.json that selects both."""
    ops = tmp_path / "ops"
    write_json(ops / "add_one.json", operator_json("add_one"))
    write_json(ops / "add_two.json", operator_json("add_two", code=ADD_ONE_CODE.format(entry="add_two").replace("1.0", "2.0"),
                                                   test=None))  # fmt: skip
    your = write_json(tmp_path / "your_perf_data.json", perf({"add_one": [([8], "fp32", 0.5, 1.0)],
                                                              "add_two": [([8], "fp32", 0.9, 1.0)]}))  # fmt: skip
    out = tmp_path / "sel"
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", str(out) + "/", "--quiet"]) == 0
    write_json(out / "session.json", session_json({"add_one": (2, 0), "add_two": (1, 0)}))
    return ops, out / "selected_batch2.json"


def do_import(ops, sel, root, *extra):
    return main(["import", "--selected", str(sel), "--ops-dir", str(ops), "--flaggems-root", str(root), *extra])


def test_new_import_writes_code_tests_exports_and_metadata(checkout, selected, capsys):
    ops, sel = selected
    assert do_import(ops, sel, checkout) == 0
    code = (checkout / GENERATED / "pointwise" / "add_one.py").read_text()
    assert code.startswith("# Generated operator") and "op_name: aten::add_one" in code and "def add_one(x)" in code
    assert "from flag_gems.experimental.generated.pointwise.add_one import add_one" in (
        checkout / GENERATED / "pointwise" / "__init__.py").read_text()  # fmt: skip
    assert (checkout / "src/flag_gems/experimental/tests/test_add_one.py").is_file()
    meta = json.loads((checkout / GENERATED / "_metadata.json").read_text())
    entry = meta["ops"]["add_one"]
    assert entry["status"] == "EXPERIMENTAL" and entry["op_name"] == "aten::add_one"
    assert entry["code_location"] == "src/flag_gems/experimental/generated/pointwise/add_one.py"
    assert entry["performance_baselines"]["configs"][0]["relative_to_cuda"] == 0.5
    assert "add_one" in capsys.readouterr().out


@pytest.mark.subprocess
def test_imported_operator_imports_and_its_tests_pass_in_the_checkout(checkout, selected):
    ops, sel = selected
    assert do_import(ops, sel, checkout) == 0
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--flaggems-device=cpu", "-q",
         str(checkout / "src/flag_gems/experimental/tests/test_add_one.py")],
        capture_output=True, text=True, env=env, cwd=checkout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_import_twice_changes_nothing(checkout, selected, capsys, monkeypatch):
    import pytest_flaggems_import.importer as importer

    ops, sel = selected
    assert do_import(ops, sel, checkout) == 0
    before = snapshot(checkout)
    mtimes = {p: p.stat().st_mtime_ns for p in checkout.rglob("*.py")}
    # Years later, not within the same second: an unchanged operator keeps its timestamps.
    monkeypatch.setattr(importer, "_now", lambda: "2099-01-01T00:00:00+00:00")
    assert do_import(ops, sel, checkout) == 0
    assert snapshot(checkout) == before
    assert {p: p.stat().st_mtime_ns for p in checkout.rglob("*.py")} == mtimes
    assert "wrote 0 files" in capsys.readouterr().out


def test_changed_code_is_refused_without_force_and_replaced_with_it(checkout, selected, capsys):
    ops, sel = selected
    assert do_import(ops, sel, checkout) == 0
    data = json.loads((ops / "add_one.json").read_text())
    data["code"] = data["code"].replace("BLOCK=128", "BLOCK=256")
    (ops / "add_one.json").write_text(json.dumps(data))
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout) == 1
    assert "conflict: the checkout has different code" in capsys.readouterr().out
    assert snapshot(checkout) == before
    assert do_import(ops, sel, checkout, "--force") == 0
    assert "BLOCK=256" in (checkout / GENERATED / "pointwise" / "add_one.py").read_text()


def test_failure_midway_leaves_the_checkout_byte_identical(checkout, selected):
    ops, sel = selected
    before = snapshot(checkout)
    # A folder where the test file must go: os.replace fails after other files were moved in.
    (checkout / "src/flag_gems/experimental/tests/test_add_one.py").mkdir(parents=True)
    before = snapshot(checkout)
    dirs = sorted(p for p in checkout.rglob("*") if p.is_dir())
    assert do_import(ops, sel, checkout) == 1
    assert snapshot(checkout) == before
    assert sorted(p for p in checkout.rglob("*") if p.is_dir()) == dirs
    assert not list(checkout.rglob("*.tmp"))


@pytest.mark.subprocess
def test_concurrent_imports_keep_both_entries(checkout, tmp_path):
    procs = []
    for name in ("op_a", "op_b"):
        ops = tmp_path / f"ops_{name}"
        write_json(ops / f"{name}.json", operator_json(name))
        your = write_json(tmp_path / f"{name}_perf.json", perf({name: [([8], "fp32", 0.5, 1.0)]}))
        sel = tmp_path / f"{name}_sel" / "selected_batch2.json"
        assert main(["select", "--batch", "2", "--your-data", str(your), "--output", str(sel), "--quiet"]) == 0
        write_json(sel.parent / "session.json", session_json({name: (2, 0)}))
        procs.append(subprocess.Popen([sys.executable, "-m", "pytest_flaggems_import", "import", "--selected", str(sel),
                                       "--ops-dir", str(ops), "--flaggems-root", str(checkout)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    assert [p.wait() for p in procs] == [0, 0]
    meta = json.loads((checkout / GENERATED / "_metadata.json").read_text())
    assert set(meta["ops"]) == {"op_a", "op_b"}
    init = (checkout / GENERATED / "pointwise" / "__init__.py").read_text()
    assert "import op_a" in init and "import op_b" in init


@pytest.mark.parametrize(
    ("entry", "category"), [("../evil", "pointwise"), ("ok", "../../etc"), ("/abs", "x"), ("a.b", "x")]
)
def test_hostile_names_cannot_write_outside_the_tree(checkout, entry, category):
    with pytest.raises(InputError, match="not a Python identifier"):
        find_checkout(checkout).paths(entry, category)


def test_hostile_category_in_an_operator_file_is_refused_before_writing(checkout, selected):
    ops, sel = selected
    data = json.loads((ops / "add_one.json").read_text())
    data["category"] = "../../.."
    (ops / "add_one.json").write_text(json.dumps(data))
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout) == 2
    assert snapshot(checkout) == before


def test_dry_run_touches_nothing_and_its_diff_is_what_a_real_run_writes(checkout, selected, capsys, monkeypatch):
    # One clock for both runs: under load they may fall in different seconds, and the timestamps are
    # part of what the diff must show exactly.
    monkeypatch.setattr(importer, "_now", lambda: "2026-01-02T03:04:05+00:00")
    ops, sel = selected
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout, "--dry-run") == 0
    dry = capsys.readouterr().out
    assert snapshot(checkout) == before
    assert "would write" in dry
    assert do_import(ops, sel, checkout) == 0
    after = snapshot(checkout)
    for name, content in after.items():
        if before.get(name) != content:
            old_lines = set(before.get(name, b"").decode().splitlines())
            added = [f"+{line}" for line in content.decode().splitlines() if line and line not in old_lines]
            assert f"b/{name}" in dry
            assert [line for line in added if line not in dry] == [], name


def test_selected_op_without_operator_file_is_an_input_error(checkout, selected, capsys):
    ops, sel = selected
    (ops / "add_two.json").unlink()
    assert do_import(ops, sel, checkout) == 2
    assert f"{sel}: $.operators.add_two: no operator file" in capsys.readouterr().err


def test_experimental_ops_layout_is_detected_and_written(tmp_path, selected):
    ops, sel = selected
    root = tmp_path / "upstream"
    pkg = root / "src" / "flag_gems" / "experimental_ops"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        'from flag_gems.experimental_ops.rmsnorm import rmsnorm\n\n__all__ = ["rmsnorm"]\n'
    )
    assert do_import(ops, sel, root) == 0
    init = (pkg / "__init__.py").read_text()
    assert init.startswith("from flag_gems.experimental_ops.rmsnorm import rmsnorm\n")
    assert "from flag_gems.experimental_ops.add_one import add_one" in init
    assert '"rmsnorm",' in init and '"add_one",' in init
    assert (pkg / "add_one.py").is_file() and (pkg / "_metadata.json").is_file()
    test = (root / "experimental_tests" / "unit" / "add_one_test.py").read_text()
    assert "from flag_gems.experimental_ops.add_one import add_one" in test


def test_real_layout_of_the_flag_gems_wheel(tmp_path, selected):
    wheel = pytest.importorskip("corpus.build").download_wheel(tmp_path / "wheels")
    root = tmp_path / "wheelcheckout"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(root / "src", members=[n for n in zf.namelist() if n.startswith("flag_gems/")])
    ops, sel = selected
    assert do_import(ops, sel, root) == 0
    pkg = root / "src" / "flag_gems" / "experimental_ops"
    assert "import add_one" in (pkg / "__init__.py").read_text()
    compile((pkg / "__init__.py").read_text(), "init", "exec")
    assert find_checkout(root).layout == "experimental_ops"


def test_two_operators_that_map_to_one_module_are_an_input_error_and_nothing_is_written(tmp_path, checkout, capsys):
    ops = tmp_path / "ops2"
    for op in ("add.Tensor", "add_Tensor"):
        write_json(ops / f"{op.replace('.', '_dot_')}.json", operator_json(op, test=None))
    your = write_json(tmp_path / "your2.json", perf({op: [([8], "fp32", 0.5, 1.0)] for op in ("add.Tensor", "add_Tensor")}))
    out = tmp_path / "sel2"
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", str(out) + "/", "--quiet"]) == 0
    before = snapshot(checkout)
    code = main(["import", "--selected", str(out / "selected_batch2.json"), "--ops-dir", str(ops),
                 "--flaggems-root", str(checkout), "--allow-untested"])  # fmt: skip
    assert code == 2
    assert "would both be written as add_Tensor.py" in capsys.readouterr().err
    assert snapshot(checkout) == before


def test_an_operator_with_one_function_per_overload_exports_each_of_them(tmp_path, checkout):
    """As FlagGems' own __init__ does for multiply.py: its per-overload functions, not a missing `multiply`."""
    ops = tmp_path / "ops3"
    code = ADD_ONE_CODE.format(entry="multiply_Tensor") + "\n\ndef multiply_Scalar(x, other):\n    return multiply_Tensor(x)\n"
    write_json(ops / "multiply.json", operator_json("multiply", code=code, test=None))
    your = write_json(tmp_path / "your3.json", perf({"multiply": [([8], "fp32", 0.5, 1.0)]}))
    out = tmp_path / "sel3"
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", str(out) + "/", "--quiet"]) == 0
    assert main(["import", "--selected", str(out / "selected_batch2.json"), "--ops-dir", str(ops),
                 "--flaggems-root", str(checkout), "--allow-untested"]) == 0  # fmt: skip
    init = (checkout / GENERATED / "pointwise" / "__init__.py").read_text()
    assert "import multiply_Tensor\n" in init and "import multiply_Scalar\n" in init
    assert "import multiply\n" not in init
    assert '"multiply_Tensor",' in init and '"multiply_Scalar",' in init


def test_a_hand_edited_test_file_is_a_conflict_and_force_replaces_it(checkout, selected, capsys):
    ops, sel = selected
    assert do_import(ops, sel, checkout) == 0
    [test_file] = [p for p in checkout.rglob("*add_one*") if "test" in p.name]
    test_file.write_text(test_file.read_text() + "\n# a maintainer's note\n")
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout) == 1
    assert "conflict: the checkout has different tests for it (use --force)" in capsys.readouterr().out
    assert snapshot(checkout) == before
    assert do_import(ops, sel, checkout, "--force") == 0
    assert "a maintainer's note" not in test_file.read_text()


def test_force_never_replaces_a_file_the_importer_did_not_write(checkout, selected, capsys):
    ops, sel = selected
    theirs = checkout / GENERATED / "pointwise" / "add_one.py"
    theirs.parent.mkdir(parents=True, exist_ok=True)
    theirs.write_text("def add_one(x):\n    return x + 1  # hand-written\n")
    assert do_import(ops, sel, checkout, "--force") == 1
    assert "a code file of that name that pytest-flaggems-import did not write" in capsys.readouterr().out
    assert theirs.read_text().endswith("# hand-written\n")


def test_a_symlinked_category_folder_never_gets_a_write_outside_the_checkout(tmp_path, checkout, selected, capsys):
    ops, sel = selected
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (checkout / GENERATED).mkdir(parents=True, exist_ok=True)
    (checkout / GENERATED / "pointwise").symlink_to(outside, target_is_directory=True)
    assert do_import(ops, sel, checkout) == 1
    assert "would be written outside the checkout" in capsys.readouterr().out
    assert list(outside.iterdir()) == []


def test_each_import_says_what_it_did_to_each_operator(checkout, selected, tmp_path, capsys):
    """The summary's lines, word for word: new, unchanged, updated (same code, new numbers),
    a conflict that refuses the whole import, then replaced with --force."""
    ops, sel = selected

    def said() -> list[str]:
        out = capsys.readouterr().out.splitlines()
        head = next(i for i, line in enumerate(out) if line.startswith("import into "))
        verb = out[head].rsplit(": ", 1)[1]
        statuses = [" ".join(line.split()) for line in out[head + 1 :] if line.startswith("  ")]
        assert out[head + 1 + len(statuses)] == "" and out[head + 2 + len(statuses)].startswith("### Generated")
        return [verb, *statuses]

    assert do_import(ops, sel, checkout) == 0
    assert said() == ["wrote 7 files", "add_one new", "add_two new"]  # 2 codes, 1 test, 3 __init__.py, the metadata
    assert do_import(ops, sel, checkout) == 0
    assert said() == ["wrote 0 files", "add_one unchanged", "add_two unchanged"]
    assert do_import(ops, sel, checkout, "--dry-run") == 0
    assert said() == ["dry run; would write 0 files", "add_one unchanged", "add_two unchanged"]
    your = write_json(tmp_path / "faster.json", perf({"add_one": [([8], "fp32", 0.4, 1.0)], "add_two": [([8], "fp32", 0.9, 1.0)]}))
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", str(sel.parent) + "/", "--quiet"]) == 0
    assert do_import(ops, sel, checkout) == 0
    assert said()[1:] == ["add_one updated", "add_two unchanged"]
    data = json.loads((ops / "add_one.json").read_text())
    (ops / "add_one.json").write_text(json.dumps({**data, "code": data["code"].replace("BLOCK=128", "BLOCK=256")}))
    assert do_import(ops, sel, checkout) == 1
    assert said() == ["refused; nothing written", "add_one conflict: the checkout has different code for it (use --force)",
                      "add_two unchanged"]  # fmt: skip
    assert do_import(ops, sel, checkout, "--force") == 0
    assert said()[1:] == ["add_one replaced (--force)", "add_two unchanged"]


@pytest.mark.parametrize(
    ("folders", "tests_go_to"),
    [
        ([], "src/flag_gems/experimental/tests"),  # the seed's default, created
        (["tests/experimental"], "tests/experimental"),  # the checkout's own, at its root
        (["tests/experimental", "src/flag_gems/experimental/tests"], "src/flag_gems/experimental/tests"),
    ],
)
def test_tests_go_to_the_experimental_test_folder_the_checkout_has(checkout, selected, folders, tests_go_to):
    ops, sel = selected
    for folder in folders:
        (checkout / folder).mkdir(parents=True, exist_ok=True)
    assert do_import(ops, sel, checkout) == 0
    assert sorted(str(p.relative_to(checkout)) for p in checkout.rglob("test_add_one.py")) == [f"{tests_go_to}/test_add_one.py"]


def test_a_checkout_metadata_file_that_breaks_its_schema_stops_the_import_naming_it(checkout, selected, capsys):
    ops, sel = selected
    assert do_import(ops, sel, checkout) == 0
    metadata = checkout / GENERATED / "_metadata.json"
    data = json.loads(metadata.read_text())
    data["ops"]["add_one"]["op_name"] = 7  # valid JSON, not what the schema allows
    metadata.write_text(json.dumps(data))
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout, "--force") == 2
    assert f"error: {metadata}: $.ops.add_one.op_name: expected string, got int 7" in capsys.readouterr().err
    assert snapshot(checkout) == before


def test_a_checkout_is_found_from_its_root_or_its_src_folder_and_a_wrong_one_is_named(tmp_path):
    ops_checkout = tmp_path / "FlagGems"
    (ops_checkout / "src" / "flag_gems").mkdir(parents=True)
    (ops_checkout / "conf").mkdir()
    (ops_checkout / "conf" / "operators.yaml").write_text("ops:\n")
    for given in (ops_checkout, ops_checkout / "src"):
        found = find_checkout(given)
        assert (found.root, found.package, found.layout) == (ops_checkout, ops_checkout / "src" / "flag_gems", "ops")
    flat = tmp_path / "flat"
    (flat / "flag_gems").mkdir(parents=True)  # no src/: the package at the root
    assert (find_checkout(flat).root, find_checkout(flat).layout) == (flat, "generated")
    with pytest.raises(InputError) as error:
        find_checkout(tmp_path / "nothing")
    assert str(error.value) == f"{tmp_path / 'nothing'}: not a FlagGems checkout: no src/flag_gems or flag_gems folder"
    with pytest.raises(InputError) as error:
        find_checkout(flat, layout="seed")
    assert str(error.value) == "unknown layout 'seed'; expected auto, generated or experimental_ops or ops"


def test_a_refused_import_says_so_word_for_word(checkout, selected, capsys):
    """Every refused operator on its own line, then how to get evidence; nothing written."""
    ops, sel = selected
    session = write_json(sel.parent / "session.json", session_json({"add_one": (1, 1)}))  # add_two never ran
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout) == 1
    assert capsys.readouterr().out == "\n".join([
        "import refused; nothing written",
        f"  add_one                  refused: tests failed: 1 of 2 (in {session})",
        f"  add_two                  refused: no test evidence: not in {session}",
        "",
        importer.REFUSAL_HELP,
    ]) + "\n"  # fmt: skip
    assert snapshot(checkout) == before


def test_the_header_says_which_aggregate_selected_the_operator(tmp_path, checkout):
    ops = tmp_path / "ops"
    write_json(ops / "add_one.json", operator_json("add_one"))
    your = write_json(tmp_path / "your.json", perf({"add_one": [([8], "fp32", 0.5, 1.0), ([16], "fp32", 0.7, 1.0),
                                                                 ([32], "fp32", 2.0, 1.0)]}))  # fmt: skip
    out = tmp_path / "sel"
    assert main(["select", "--batch", "2", "--aggregate", "median", "--your-data", str(your), "--output", f"{out}/",
                 "--quiet"]) == 0  # fmt: skip
    write_json(out / "session.json", session_json({"add_one": (1, 0)}))
    assert do_import(ops, out / "selected_batch2.json", checkout) == 0
    code = (checkout / GENERATED / "pointwise" / "add_one.py").read_text()
    assert "# selected: median relative_to_cuda 0.7 <= threshold 1.25\n" in code


def test_an_import_after_an_interrupted_one_first_puts_the_checkout_back_and_says_so(checkout, selected, capsys):
    """The journal a killed import left (here: one file replaced, one new file in place) is undone
    before this import plans anything, and the summary's second line says how many files."""
    ops, sel = selected
    init = checkout / "src" / "flag_gems" / "__init__.py"
    original = init.read_text()
    stray = checkout / GENERATED / "pointwise" / "stray.py"
    journal = checkout / "src" / ".flaggems-import-journal.json"
    journal.write_text(json.dumps({"files": [[str(init), original], [str(stray), None]], "dirs": []}))
    init.write_text(original + "# half-written by a killed import\n")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("x = 1\n")
    assert do_import(ops, sel, checkout) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  (first put back 2 files an interrupted earlier import had left half-written)"
    assert "# half-written" not in init.read_text() and not stray.exists() and not journal.exists()


def test_an_operator_file_in_a_batch_folder_is_named_from_the_ops_folder(tmp_path, checkout):
    ops = tmp_path / "ops"
    write_json(ops / "batch2" / "add_one.json", operator_json("add_one"))
    your = write_json(tmp_path / "your.json", perf({"add_one": [([8], "fp32", 0.5, 1.0)]}))
    out = tmp_path / "sel"
    assert main(["select", "--batch", "2", "--your-data", str(your), "--output", f"{out}/", "--quiet"]) == 0
    write_json(out / "session.json", session_json({"add_one": (1, 0)}))
    assert do_import(ops, out / "selected_batch2.json", checkout) == 0
    assert "source: batch2/add_one.json" in (checkout / GENERATED / "pointwise" / "add_one.py").read_text()


def test_a_selected_operator_whose_file_breaks_the_schema_is_exit_2_naming_it(checkout, selected, capsys):
    ops, sel = selected
    data = json.loads((ops / "add_one.json").read_text())
    write_json(ops / "add_one.json", {**data, "code": 3})
    before = snapshot(checkout)
    assert do_import(ops, sel, checkout) == 2
    assert f"{ops / 'add_one.json'}: $.code: " in capsys.readouterr().err
    assert snapshot(checkout) == before


def test_the_generated_packages_are_made_regular_packages(checkout, selected):
    ops, sel = selected
    assert not (checkout / "src" / "flag_gems" / "experimental").exists()
    assert do_import(ops, sel, checkout) == 0
    for package in ("src/flag_gems/experimental/__init__.py", f"{GENERATED}/__init__.py"):
        assert (checkout / package).is_file(), package


@pytest.mark.parametrize(("entry", "category", "message"), [
    ("../add_one", "pointwise", "operator name '../add_one' is not a Python identifier; refusing to write it"),
    ("add_one", "/etc", "category name '/etc' is not a Python identifier; refusing to write it"),
])  # fmt: skip
def test_an_operator_or_category_that_is_no_identifier_is_never_a_path(checkout, entry, category, message):
    with pytest.raises(InputError) as caught:
        find_checkout(checkout).paths(entry, category)
    assert caught.value.message == message
