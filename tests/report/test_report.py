"""Reports people read (report.html, report.md, charts) built from the session files recorded
under benchmarks/results/ (real GPU sessions), through ``flaggems-import report``."""

from __future__ import annotations

import json
import re

import pytest

from helpers import PNG, RESULTS, tables_of
from pytest_flaggems_import.cli import main

SESSIONS = sorted(RESULTS.rglob("session.json"))


def test_the_recorded_gpu_sessions_are_there():
    assert len(SESSIONS) >= 4, SESSIONS


@pytest.mark.parametrize("session_file", SESSIONS, ids=lambda p: p.parent.relative_to(RESULTS).as_posix())
def test_a_report_from_a_recorded_session_holds_every_decision(session_file, tmp_path):
    session = json.loads(session_file.read_text())
    assert main(["report", str(session_file), "--out", str(tmp_path)]) == 0
    page = tables_of(tmp_path / "report.html")
    markdown = (tmp_path / "report.md").read_text()
    for batch in (1, 2):
        mine = [d for d in session["decisions"] if d["batch"] == batch]
        rows = page.tables.get(f"batch{batch}", [])[1:]  # after the header
        assert sorted(r[0] for r in rows) == sorted(d["op"] for d in mine)
        decided = {r[0]: r[6] for r in rows}
        assert decided == {d["op"]: "selected" if d["selected"] else "rejected" for d in mine}
        if mine:
            chosen = sum(d["selected"] for d in mine)
            assert f"## Batch {batch}: {chosen} of {len(mine)} selected" in markdown
            chart = tmp_path / "charts" / f"speedup-batch{batch}.png"
            figures = [d.get("avg_speedup_vs_flaggems" if batch == 1 else "avg_relative_to_cuda") for d in mine]
            assert chart.read_bytes().startswith(PNG) if any(figures) else not chart.exists()
    environment = dict(row for row in page.tables["environment"][1:])
    assert environment["gpu"] == session["provenance"]["gpu"]
    assert environment["torch"] == session["provenance"]["torch"]
    # Self-contained: every image is inline, nothing is fetched.
    assert page.links and all(link.startswith("data:image/png;base64,") for link in page.links), page.links[:3]


def test_a_selected_operator_shows_its_figures_and_spread(tmp_path):
    session_file = RESULTS / "gpu-bench-run1" / "session.json"
    session = json.loads(session_file.read_text())
    assert main(["report", str(session_file), "--out", str(tmp_path)]) == 0
    abs_ = next(d for d in session["decisions"] if d["op"] == "abs")
    markdown = (tmp_path / "report.md").read_text()
    assert f"| abs | pointwise | 1/1 | 4 | {abs_['avg_speedup_vs_flaggems']:.3f}x | speedup vs FlagGems &gt;= 1.3 | selected |" in markdown
    first = abs_["configs"][0]
    spread = first["spread"]["your"][first["metric"]]
    row = f"| 1024x1024 | float16 | {first['your_time']:.3f} | {spread['p20']:.3f}-{spread['p80']:.3f} | "
    assert row in markdown
    assert "| field | value |" in markdown and "a session file did not record its thresholds" in markdown


def test_shards_merge_and_an_operator_in_two_sessions_is_refused(tmp_path, capsys):
    session = json.loads((RESULTS / "gpu-bench-run1" / "session.json").read_text())
    half = len(session["decisions"]) // 2
    shards = []
    for i, decisions in enumerate((session["decisions"][:half], session["decisions"][half:])):
        ops = {d["op"] for d in decisions}
        shard = {**session, "decisions": decisions, "operators": {k: v for k, v in session["operators"].items() if k in ops}}
        shards.append(tmp_path / f"shard{i}.json")
        shards[-1].write_text(json.dumps(shard))
    assert main(["report", *map(str, shards), "--out", str(tmp_path / "merged")]) == 0
    rows = tables_of(tmp_path / "merged" / "report.html").tables
    assert sum(len(rows.get(f"batch{b}", [[]])) - 1 for b in (1, 2)) == len(session["decisions"])

    assert main(["report", str(shards[0]), str(shards[0]), "--out", str(tmp_path / "twice")]) == 2
    assert "$.decisions[0]: operator" in capsys.readouterr().err
    assert not (tmp_path / "twice").exists()


def test_text_from_candidate_code_is_shown_as_text(tmp_path):
    """A reason holds what candidate code raised; it is escaped, never markup in either report."""
    hostile = "<script>fetch('https://example.com')</script> | <img src=x>"
    session = {
        "operators": {"relu": {"category": "pointwise", "passed": 0, "failed": 1, "first_failure": hostile}},
        "decisions": [{"op": "relu", "batch": 2, "selected": False, "reason": f"tests failed: {hostile}", "configs": []}],
    }
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session))
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script>" not in page and "<img src=x>" not in page and "&lt;script&gt;" in page
    assert tables_of(tmp_path / "out" / "report.html").tables["batch2"][1][7] == f"tests failed: {hostile}"
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "<script>" not in markdown and "\\| &lt;img src=x&gt;" in markdown


def test_a_damaged_session_file_is_refused_with_its_json_path(tmp_path, capsys):
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"operators": {}, "decisions": [{"op": "relu", "batch": 3, "selected": "yes", "reason": ""}]}))
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"session\.json: \$\.decisions\[0\]\.batch", err) and "$.decisions[0].selected" in err, err
    assert not (tmp_path / "out").exists()


def test_the_time_chart_comes_from_a_session_that_recorded_timings(tmp_path):
    session = {
        "timing": {"startup_s": 4.9, "tests_s": 8.4, "gate_s": 18.8, "workers": 2},
        "operators": {"gelu": {"passed": 13, "failed": 0, "seconds": {"load": 0.1, "test": 0.45, "bench": 2.0}}},
        "decisions": [{"op": "gelu", "batch": 2, "selected": True, "reason": "ok", "avg_relative_to_cuda": 0.9,
                       "configs": [{"shape": [8], "dtype": "float32", "your_time": 0.9, "cuda_time": 1.0,
                                    "relative_to_cuda": 0.9, "metric": "operator", "device": "cpu"}]}],
    }  # fmt: skip
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session))
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "charts" / "time.png").read_bytes().startswith(PNG)
    assert "![time](charts/time.png)" in (tmp_path / "out" / "report.md").read_text()
    assert "wall time in its items: bench 2.00 s, load 0.10 s, test 0.45 s" in (tmp_path / "out" / "report.md").read_text()
