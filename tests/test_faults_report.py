"""Issue 12, the HPO report: a time axis from the trials' start and end times (kept in trials.json), no chart
for a hyperparameter the request fixed, a trial table that fits the page, and no empty search charts for a
single model."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tuning.report import render_report

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def _trial(i: int, bptt: int, objective: float) -> dict:
    return {"trial_id": f"trial_{i:03d}", "hidden_dimension": "55", "bptt": str(bptt), "recency_mask": "true",
            "objective": objective, "precision_at_25": objective, "epochs": 1, "seconds": 3.0, "device": "cpu",
            "node": "f" * 56, "status": "TERMINATED", "started_at": 1000.0 + 10 * i, "ended_at": 1003.0 + 10 * i,
            "history": [{"epoch": 1, "loss": 4.0, "objective": objective}]}


def _page(perform_hpo: bool, trials: list[dict]):
    describe = {"solutionVersion": {
        "solutionVersionArn": "arn:aws:personalize:us-east-1:000000000000:solution/r/0a1b2c3d", "status": "ACTIVE",
        "performHPO": perform_hpo,
        "solutionConfig": {"algorithmHyperParameters": {"hidden_dimension": "55"},
                           "hpoConfig": {"algorithmHyperParameterRanges": {}}}}}
    text = render_report(describe, {}, trials)
    return text, ET.fromstring(text)


def test_the_timeline_has_a_time_axis_and_fixed_parameters_get_no_chart():
    text, root = _page(True, [_trial(0, 8, 0.05), _trial(1, 16, 0.07), _trial(2, 31, 0.06)])
    charts = {s.get("id"): s for s in root.iter(f"{SVG}svg")}
    assert "chart-objective-vs-hidden_dimension" not in charts  # fixed at 55 by the request
    assert {"chart-objective-vs-bptt", "chart-objective-vs-recency_mask"} <= set(charts)
    timeline = charts["chart-objective-timeline"]
    labels = [t.text for t in timeline.iter(f"{SVG}text")]
    assert "seconds since the search started (trial end)" in labels


def test_the_trial_table_fits_the_page():
    text, root = _page(True, [_trial(i, 8 + i, 0.05) for i in range(3)])
    wrapper = next(d for d in root.iter(f"{XHTML}div") if d.get("class") == "wide")
    headers = [th.text for th in wrapper.iter(f"{XHTML}th")]
    assert "p@25" in headers and "ndcg@10" in headers and "precision_at_25" not in headers
    assert max(len(h) for h in headers) <= 16
    assert all(len(td.text or "") <= 16 for td in wrapper.iter(f"{XHTML}td"))  # node ids are cut short
    assert ".wide { overflow-x: auto" in text


def test_a_single_model_gets_its_learning_curve_only():
    single = {"trial_id": "single", "hidden_dimension": "55", "bptt": "32", "recency_mask": "true",
              "objective": None, "status": "TERMINATED", "started_at": 1.0, "ended_at": 2.0,
              "history": [{"epoch": 1, "loss": 4.0}, {"epoch": 2, "loss": 3.5}]}
    text, root = _page(False, [single])
    assert [s.get("id") for s in root.iter(f"{SVG}svg")] == ["chart-learning-curve"]
    assert "no trial has" not in text


def test_trials_json_keeps_start_and_end_times():
    from tuning.hpo.results import TrialRecord
    from tuning.version_training import trial_row

    record = TrialRecord(trial_id="trial_000", params={"bptt": "8"}, objective=0.1, metrics={}, epochs=1,
                         seconds=2.0, device="cpu", node="n", status="TERMINATED", started_at=10.0, ended_at=12.0)
    row = json.loads(json.dumps(trial_row(record)))
    assert (row["started_at"], row["ended_at"]) == (10.0, 12.0)
