"""CI shards: ``--flaggems-shard=I/N`` screens a deterministic part of the operators, and
``flaggems-import merge`` joins the shards' session files into what one run writes."""

from __future__ import annotations

import json

from helpers import ADD_ONE_CODE, operator_json, perf, run
from pytest_flaggems_import.cli import main
from pytest_flaggems_import.core.shards import shard_of

OPS = ["op_a", "op_b", "op_c", "op_d", "op_e"]
WRONG_CODE = ADD_ONE_CODE.replace("+ 1.0", "+ 2.0")
FILES = ("selected_batch1.json", "selected_batch2.json", "session.json")


def comparable(folder) -> dict:
    """The files of a run without what differs between any two runs (when, how long, which shards)."""
    found = {}
    for name in FILES:
        data = json.loads((folder / name).read_text())
        data.pop("provenance", None)
        data.pop("timing", None)
        for entry in data.get("operators", {}).values():
            for key in ("path", "seconds", "compile_seconds", "kernels_compiled", "bench_split", "test_wait_seconds"):
                entry.pop(key, None)
        found[name] = data
    return found


def test_shards_merged_write_what_one_run_writes(pytester, tmp_path):
    ops = pytester.mkdir("ops")
    for op in OPS:
        code = WRONG_CODE.format(entry=op) if op == "op_c" else None  # one operator fails its tests
        (ops / f"{op}.json").write_text(json.dumps(operator_json(op, code=code)))
    times = {"op_a": 0.5, "op_b": 2.0, "op_c": 0.5, "op_d": 1.0, "op_e": 0.9}
    (pytester.path / "your_perf_data.json").write_text(json.dumps(perf({op: [([8], "fp32", t, 1.0)] for op, t in times.items()})))
    assert {shard_of(op, 2) for op in OPS} == {1, 2}  # both shards have work

    run(pytester, "--flaggems-ops=ops", "--flaggems-batch=2", "--flaggems-report-dir=whole")
    for i in (1, 2):
        result = run(pytester, "--flaggems-ops=ops", "--flaggems-batch=2", f"--flaggems-shard={i}/2",
                     f"--flaggems-report-dir=shard{i}")  # fmt: skip
        mine = sorted(json.loads((pytester.path / f"shard{i}" / "session.json").read_text())["operators"])
        assert mine == [op for op in OPS if shard_of(op, 2) == i], result.stdout.str()[-2000:]

    out = tmp_path / "merged"
    assert main(["merge", str(pytester.path / "shard1" / "session.json"), str(pytester.path / "shard2" / "session.json"),
                 "--output", str(out)]) == 0  # fmt: skip
    assert comparable(out) == comparable(pytester.path / "whole")
    assert (out / "selection.md").read_text() == (pytester.path / "whole" / "selection.md").read_text()
    assert (out / "report.html").is_file()
    merged = json.loads((out / "session.json").read_text())
    assert merged["provenance"]["shards"] == [str(pytester.path / f"shard{i}" / "session.json") for i in (1, 2)]
    assert merged["timing"]["workers"] == 2

    # the same shard twice, or shards run with other rules, are refused: exit 2, nothing written
    twice = tmp_path / "twice"
    assert main(["merge", *[str(pytester.path / "shard1" / "session.json")] * 2, "--output", str(twice)]) == 2
    assert not twice.exists()
    other = json.loads((pytester.path / "shard2" / "session.json").read_text())
    other["rules"]["thresholds"]["2"] = 1.5
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert main(["merge", str(pytester.path / "shard1" / "session.json"), str(tmp_path / "other.json"),
                 "--output", str(tmp_path / "mixed")]) == 2  # fmt: skip
    assert not (tmp_path / "mixed").exists()
