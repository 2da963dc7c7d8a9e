"""On a CUDA machine with the real FlagGems: a wrong sigmoid (its kernel writes zeros) with a
FlagGems-style dispatch test (``with flag_gems.use_gems(): torch.ops.aten.sigmoid(x)``) fails,
because use_gems() runs the candidate for aten::sigmoid, not FlagGems' own kernel; the honest one
passes and is selected."""

from __future__ import annotations

import json

import pytest

from helpers import DISPATCH_TEST, SIGMOID, operator_json, perf

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize(("value", "selected"), [("1.0 / (1.0 + tl.exp(-x))", True), ("x * 0.0", False)],
                         ids=["honest", "wrong"])  # fmt: skip
def test_dispatch_style_tests_run_the_candidate_with_the_real_flaggems(pytester, value, selected):
    ops = pytester.mkdir("ops")
    code = SIGMOID.format(value=value, entry="sigmoid")
    (ops / "sigmoid.json").write_text(json.dumps(operator_json("sigmoid", code=code, test=DISPATCH_TEST)))
    (pytester.path / "your_perf_data.json").write_text(json.dumps(perf({"sigmoid": [([8], "fp32", 0.5, 1.0)]})))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--flaggems-ops=ops", "--flaggems-device=cuda", "--flaggems-batch=2",
        "--flaggems-report-dir=out",
    )  # fmt: skip
    print(result.stdout.str()[-3000:])
    session = json.loads((pytester.path / "out" / "session.json").read_text())
    assert session["provenance"]["flag_gems"].startswith("flag_gems 5"), session["provenance"]
    chosen = json.loads((pytester.path / "out" / "selected_batch2.json").read_text())
    assert ("sigmoid" in chosen["operators"]) is selected, chosen["rejected"]
