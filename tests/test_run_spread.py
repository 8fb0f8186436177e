"""scripts/run_spread.py: the spread of headline ratios over back-to-back runs, with and
without the canary, and winners that contradict each other."""

import json

from conftest import load_script

spread = load_script("run_spread")


def _run(ratio, lo, hi, first, winner):
    head = {"vs_baseline_batch_1_latency_p50": ratio}
    head.update(vs_baseline_batch_1_latency_p50_lo=lo, vs_baseline_batch_1_latency_p50_hi=hi)
    first_head = {"vs_baseline_batch_1_latency_p50": first}
    first_head.update(vs_baseline_batch_1_latency_p50_lo=first, vs_baseline_batch_1_latency_p50_hi=first)
    models = {"int8": {"checked": 12, "retimed": 1, "marked": 0, "fastest_ms": 1.0}}
    return {
        "setup": {
            "cpu": "AMD EPYC",
            "cpu_id": {"family": "25"},
            "canary": {"trained": {"models": models, "without": {"headline": first_head}}},
        },
        "headline": {"trained": head},
        "winners": {"trained": {"batch_1": winner}},
    }


def test_the_spread_is_the_largest_distance_from_the_median_over_the_median(capsys, tmp_path):
    runs = [_run(1.0, 0.9, 1.1, 1.0, "a"), _run(1.05, 0.95, 1.15, 1.3, "tie: a, b"), _run(0.9, 0.85, 1.0, 0.9, "a")]
    assert spread.spread([1.0, 1.25, 0.75]) == 0.25  # median 1.0, farthest 0.25 from it
    assert spread.spread([2.0, 3.0, 1.5]) == 0.5
    assert spread.contradictions(runs) == []  # a tie holding the other's winner is no contradiction
    # a fourth run naming b contradicts the two that name a, not the tie that holds b
    assert spread.contradictions(runs + [_run(1.0, 0.9, 1.1, 1.0, "b")]) == ["trained.batch_1: a against b"] * 2
    paths = [tmp_path / f"run{i}.json" for i in range(len(runs))]
    for path, run in zip(paths, runs):
        path.write_text(json.dumps(run))
    spread.main([str(p) for p in paths])
    out = capsys.readouterr().out
    # 1.05 lies outside the third run's [0.85, 1.0]; the spread: median 1.0, farthest 0.9
    row = [line for line in out.splitlines() if line.startswith("| trained.vs_baseline")][0]
    assert "| NO |" in row and "| 10.0% |" in row
    # as first timed: 1.0, 1.3, 0.9, median 1.0, farthest 1.3: 30%
    assert row.endswith("| 30.0% |")
    assert "run 1 trained: 12 passes checked, 1 retimed, 0 marked" in out


def test_a_bad_run_file_or_runs_of_two_cpus_stop_in_one_line(tmp_path):
    import pytest

    good = tmp_path / "good.json"
    good.write_text(json.dumps(_run(1.0, 0.9, 1.1, 1.0, "a")))
    other = _run(1.0, 0.9, 1.1, 1.0, "a")
    other["setup"]["cpu_id"] = {"family": "23"}
    (tmp_path / "other.json").write_text(json.dumps(other))
    (tmp_path / "cut.json").write_text('{"setup": ')
    (tmp_path / "list.json").write_text("[]")
    for args, says in (
        ([good, tmp_path / "missing.json"], "missing.json"),
        ([good, tmp_path / "cut.json"], "cut.json"),
        ([good, tmp_path / "list.json"], "not a metrics/benchmark.json"),
        ([good, tmp_path / "other.json"], "different CPUs"),
    ):
        with pytest.raises(SystemExit) as stop:
            spread.main([str(a) for a in args])
        assert says in str(stop.value) and "\n" not in str(stop.value)
