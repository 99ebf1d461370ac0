"""The benchmark's cost curve (issue 14, item 3) and the seed's timeline (item 4): the fit, the
extrapolation, the verdicts and the report's sections, from canned figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import curve, report
from bench.run import merged


def row(mb: int, stream: float, verify: float, replicas: float, *, other: float = 2.0,
        ) -> dict[str, Any]:
    return {"data_mb": mb, "source_mb": mb, "wall_s": round(other + replicas, 2),
            "steps_s": {"discover": other, "replicas": replicas}, "stream_s": stream,
            "verify_s": verify, "rollback_s": 10.0 + mb / 1024}


def figures(**more: Any) -> dict[str, Any]:
    machine = {k: "x" for k in ("cpu", "cores", "memory_gb", "os", "kernel", "python",
                                "textual", "asyncssh", "mariadb", "openssh")}
    return {"date": "2026-12-01 23:00 UTC", "data_mb": 1024, "reps": 3, "machine": machine,
            "notes": [], **more}


# Seconds that grow exactly linearly: 256 MB, 1 GB and 4 GB (0.25, 1 and 4 GB).
LINEAR = [row(256, 2.5 + 0.25 * 10, 0.25 * 4, 8 + 0.25 * 15),
          row(1024, 2.5 + 10, 4.0, 8.0 + 15),
          row(4096, 2.5 + 40, 16.0, 8 + 60)]


def test_fit_recovers_a_line_and_refuses_too_few_points() -> None:
    a, b = curve.fit([(0.25, 3.5), (1.0, 5.0), (4.0, 11.0)]) or (0, 0)
    assert (round(a, 6), round(b, 6)) == (3.0, 2.0)
    assert curve.fit([(1.0, 5.0)]) is None
    assert curve.fit([(1.0, 5.0), (1.0, 6.0)]) is None


def test_fit_is_least_squares_through_noise() -> None:
    a, b = curve.fit([(0.0, 1.0), (1.0, 1.0), (2.0, 4.0)]) or (0, 0)
    # Mean x 1, mean y 2, slope (-1·-1 + 1·2) / 2 = 1.5, intercept 0.5.
    assert (round(a, 6), round(b, 6)) == (0.5, 1.5)


def test_analysis_extrapolates_to_100_gb_and_judges_verify_and_growth() -> None:
    found = curve.analyse(LINEAR)
    fits = found["fits"]
    assert fits["stream"] == {"a_s": 2.5, "s_per_gb": 10.0, "at_100gb_s": 1002.5}
    assert fits["replicas"]["s_per_gb"] == 15.0 and fits["replicas"]["at_100gb_s"] == 1508.0
    assert fits["total"]["at_100gb_s"] == 1510.0  # discover stays 2 s
    assert fits["discover"]["s_per_gb"] == 0.0
    assert found["verify_over_stream"] == {256: 0.2, 1024: 0.32, 4096: 0.38}
    assert found["verify_target_met"] is True
    assert found["replicas_over_stream_slope"] == 1.5 and found["growth_met"] is True


def test_analysis_says_missed_and_not_measured_honestly() -> None:
    slow = [row(256, 2.0, 3.0, 10.0), row(1024, 8.0, 12.0, 40.0)]
    found = curve.analyse(slow)
    assert found["verify_over_stream"][1024] == 1.5 and found["verify_target_met"] is False
    assert found["growth_met"] is False  # replicas 40 s/GB against the stream's 8
    without_1gb = curve.analyse([row(256, 2.0, 0.5, 10.0), row(4096, 30.0, 8.0, 50.0)])
    assert without_1gb["verify_target_met"] is None


def test_sizes_start_at_the_labs_size_and_end_where_it_goes_back() -> None:
    assert curve.size_order([256, 1024, 4096], 4096, 1024) == [4096, 256, 1024]
    assert curve.size_order([4096, 256, 1024], 50, None) == [256, 1024, 4096]
    assert curve.size_order([256, 1024], 1024, 1024) == [1024, 256]
    assert curve.size_order([256, 256, 1024], None, 256) == [1024, 256]


def test_verify_is_the_replicas_step_after_its_last_action() -> None:
    state = {"steps": {"replicas": {
        "started_at": "2026-12-01T10:00:00+00:00", "finished_at": "2026-12-01T10:00:30+00:00",
        "actions": [
            {"id": "stream", "started_at": "2026-12-01T10:00:01+00:00",
             "finished_at": "2026-12-01T10:00:11+00:00"},
            {"id": "readers:px1", "started_at": "2026-12-01T10:00:20+00:00",
             "finished_at": "2026-12-01T10:00:24.500000+00:00"}]}}}
    assert curve.verify_seconds(state) == 5.5
    assert curve.verify_seconds({"steps": {}}) is None
    line = "db1: checksums equal on db1, db2, db3 (full: 412 tables) in 3.4 s\n"
    assert curve.checksum_seconds("x\n" + line) == 3.4
    assert curve.checksum_seconds("no such line") is None


def test_report_section_has_the_table_the_100_gb_line_and_the_plot_link() -> None:
    text = report.markdown(figures(curve=list(reversed(LINEAR)), curve_plot_problem=None))
    section = text[text.index("## Cost curve"):]
    lines = section.splitlines()
    head = next(x for x in lines if x.startswith("| data on db1"))
    assert head == ("| data on db1 (MB) | discover | replicas | stream | verify | "
                    "verify/stream | total | rollback |")
    body = [x for x in lines if x.startswith("| ") and x != head]
    # Smallest first, whatever order they were measured in.
    assert [x.split(" | ")[0] for x in body] == ["| 256 (lab 256)", "| 1024 (lab 1024)",
                                                  "| 4096 (lab 4096)"]
    assert body[1] == "| 1024 (lab 1024) | 2.0 | 23.0 | 12.5 | 4.0 | 0.32 | 25.0 | 11.0 |"
    assert "replicas 1508.0 s" in section and "total 1510.0 s (≈ 25 min)" in section
    assert "verify / stream at 1 GB: 0.32 (target ≤ 0.5: met)" in section
    assert "1.5x the stream's rate" in section
    assert "![seconds per step against the data size](cost-curve.svg)" in section


def test_report_without_a_curve_has_no_section() -> None:
    assert "Cost curve" not in report.markdown(figures())


def test_write_without_matplotlib_says_so_and_does_not_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    report.write(figures(curve=LINEAR), tmp_path)
    text = (tmp_path / "benchmarks.md").read_text()
    assert "Plot not drawn: matplotlib is not installed" in text
    assert "cost-curve.svg)" not in text and not (tmp_path / "cost-curve.svg").exists()


def test_write_draws_the_same_svg_for_the_same_figures(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report.write(figures(curve=LINEAR), tmp_path)
    first = (tmp_path / "cost-curve.svg").read_text()
    report.write(figures(curve=LINEAR), tmp_path)
    assert first.startswith("<?xml") and "replicas" in first and "total" in first
    assert (tmp_path / "cost-curve.svg").read_text() == first
    assert json.loads((tmp_path / "benchmarks.json").read_text())["curve_plot_problem"] is None


def one_replica(stream: float, start: float, other: float = 0.1) -> dict[str, Any]:
    actions = {"install:db2": other, "stop:db2": other, "datadir:db2": other,
               "seed-key": 0.6, "stream": stream, "prepare:db2": 0.5, "config:db2": 0.1,
               "start:db2": start, "replicate:db2": 0.3, "cleanup": 0.4}
    return {"seed_s": stream + 0.5, "replicas_step_s": round(sum(actions.values()) + 5.0, 2),
            "actions_s": actions}


def test_seed_timeline_is_the_median_of_each_phase_beside_the_hand_pipe() -> None:
    seed = {"wizard_seed_one_s": {"samples": [one_replica(6.0, 2.0), one_replica(7.0, 3.0),
                                              one_replica(9.0, 2.5, other=0.2)]},
            "hand_seed_s": {"samples": [
                {"seed_s": 6.0, "key_s": 0.3, "stream_s": 5.5, "prepare_s": 0.5},
                {"seed_s": 6.4, "key_s": 0.2, "stream_s": 5.8, "prepare_s": 0.6},
                {"seed_s": 6.2, "key_s": 0.4, "stream_s": 5.6, "prepare_s": 0.6}]}}
    lines = report.seed_timeline(seed)
    rows = {x.split(" | ")[0][2:]: x.split(" | ")[1:] for x in lines if x.startswith("| ")}
    assert rows["stream"] == ["7.0", "5.6 |"]
    assert rows["start (replica server)"] == ["2.5", "— |"]
    assert rows["replica set-up (install, stop, datadir)"] == ["0.3", "— |"]
    assert rows["job start (seed key)"] == ["0.6", "0.3 |"]
    assert rows["prepare"] == ["0.5", "0.6 |"]
    assert rows["verify, and the engine between actions"] == ["5.0", "— |"]
    assert rows["seed (stream to last prepare)"] == ["7.5", "6.2 |"]


def test_seed_timeline_reads_an_older_run_and_nothing_without_actions() -> None:
    old = {"wizard_seed_one_s": {"samples": [one_replica(6.0, 2.0)]},
           "hand_seed_s": {"samples": [6.8, 6.2]}}
    text = "\n".join(report.seed_timeline(old))
    assert "| seed (stream to last prepare) | 6.5 | 6.5 |" in text
    assert "| stream | 6.0 | — |" in text
    assert report.seed_timeline({"wizard_seed_one_s": {"samples": [{"seed_s": 6.0}]}}) == []


def test_a_run_of_the_curve_alone_adds_it_to_the_last_run(tmp_path: Path) -> None:
    (tmp_path / "benchmarks.json").write_text(json.dumps({"seed": {"kept": 1}, "curve": []}))
    out = merged({"curve": LINEAR, "date": "new"}, ["curve"], tmp_path)
    assert out["seed"] == {"kept": 1} and out["curve"] == LINEAR and "date" not in out
    full = {"curve": LINEAR, "seed": {}}
    assert merged(full, ["seed", "curve"], tmp_path) is full


def test_a_step_that_does_not_grow_is_extrapolated_as_its_mean_not_below_zero() -> None:
    from bench.curve import analyse
    rows = [{"data_mb": mb, "source_mb": mb, "steps_s": {"discover": s, "replicas": r},
             "stream_s": r / 2, "verify_s": r / 8, "wall_s": s + r, "rollback_s": 15.0}
            for mb, s, r in ((256, 1.8, 10.0), (1024, 1.7, 30.0), (4096, 1.6, 90.0))]
    fits = analyse(rows)["fits"]
    assert fits["discover"]["s_per_gb"] < 0
    assert fits["discover"]["at_100gb_s"] == 1.7
    assert fits["replicas"]["at_100gb_s"] > 90
