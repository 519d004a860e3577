"""The static HTML report of a solution version (tuning.report)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hrnn.evaluation.metrics import SERVICE_METRIC_NAMES
from hrnn.recipe import ALGORITHM, HRNN_RECIPE
from tuning.report import best_trial, learning_curve, nice_ticks, write_report
from tuning.workspace import VersionFiles

SVG = "{http://www.w3.org/2000/svg}svg"
XHTML = "{http://www.w3.org/1999/xhtml}"
ARN = "arn:aws:personalize:us-east-1:000000000000:solution/demo/0a1b2c3d"
N_ALGORITHM = len(HRNN_RECIPE.of_kind(ALGORITHM))
N_CHARTS = 1 + N_ALGORITHM + 1  # timeline, one per algorithm hyperparameter, learning curve
METRICS = {
    "coverage": 0.412345,
    "mean_reciprocal_rank_at_25": 0.087654,
    "normalized_discounted_cumulative_gain_at_5": 0.061234,
    "normalized_discounted_cumulative_gain_at_10": 0.072345,
    "normalized_discounted_cumulative_gain_at_25": 0.091357,
    "precision_at_5": 0.024681,
    "precision_at_10": 0.019753,
    "precision_at_25": 0.013579,
}


def _trial(trial_id, hidden, bptt, mask, objective, status="TERMINATED", epochs=3, t0=1000.0, history=True):
    metrics = {m: (None if objective is None else round(objective * (1 + i / 10), 6))
               for i, m in enumerate(SERVICE_METRIC_NAMES)}
    metrics["precision_at_25"] = objective
    row = {"trial_id": trial_id, "hidden_dimension": str(hidden), "bptt": str(bptt), "recency_mask": mask,
           "objective": objective, **metrics, "epochs": epochs, "seconds": 12.5, "device": "cpu", "node": "abc123",
           "status": status, "started_at": t0, "ended_at": t0 + 12.5}
    if history:
        row["history"] = [{"epoch": e, "loss": 5.0 - e * 0.5, "objective": None if objective is None else objective * e / epochs,
                           "epoch_seconds": 4.0} for e in range(1, epochs + 1)]
    return row


def _version(tmp_path: Path, trials: list[dict], perform_hpo: bool = True, metrics: dict | None = METRICS,
             objective: dict | None = None, tuned: dict | None = None) -> VersionFiles:
    version_files = VersionFiles(tmp_path / "solutions" / "demo" / "versions" / "0a1b2c3d")
    d = version_files.path
    d.mkdir(parents=True)
    solution_config = {"hpoConfig": {"hpoObjective": objective}} if objective else {}
    version = {"name": "demo-0a1b2c3d", "solutionVersionArn": ARN, "status": "ACTIVE", "performHPO": perform_hpo,
               "recipeArn": HRNN_RECIPE.recipe_arn, "solutionConfig": solution_config, "creationDateTime": 1.7e9,
               "lastUpdatedDateTime": 1.7e9 + 60, "trainingHours": 0.01}
    if tuned:
        version["tunedHPOParams"] = {"algorithmHyperParameters": tuned}
    version_files.describe.write_text(json.dumps({"public": version, "private": {}}))
    if metrics is not None:
        version_files.write_metrics(ARN, metrics)
    version_files.write_trials(trials)
    return version_files


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.svgs = 0
        self.text: list[str] = []
        self.void = {"meta", "br", "img", "hr", "input", "link"}

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1
        if tag not in self.void:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> (open: {self.stack[-3:]})"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    root = ET.fromstring(text)  # well-formed XML (XHTML): every tag closed, every attribute quoted
    collector = _Collect()
    collector.feed(text)
    collector.close()
    assert collector.stack == []
    return text, root, collector


def _svgs(root):
    return list(root.iter(SVG))


def test_hpo_report(tmp_path):
    trials = [
        _trial("t_0001", 64, 16, "true", 0.0102, t0=1000.0),
        _trial("t_0002", 128, 8, "false", 0.013579, t0=1005.0),  # the best
        _trial("t_0003", 200, 32, "true", None, status="ERROR", epochs=0, t0=1010.0, history=False),
        _trial("t_0004", 48, 24, "false", 0.0087, t0=1020.0),
    ]
    trials[2]["error"] = "RuntimeError: out of memory <boom> & more"
    d = _version(tmp_path, trials, tuned={"hidden_dimension": "128", "bptt": "8", "recency_mask": "false"},
                 objective={"metricName": "precision_at_25", "type": "Maximize"})
    path = write_report(d)
    assert path == d.report
    text, root, collector = _parse(path)
    svgs = _svgs(root)
    assert len(svgs) == collector.svgs == N_CHARTS
    ids = {s.get("id") for s in svgs}
    assert {"chart-objective-timeline", "chart-learning-curve"} <= ids
    for hp in HRNN_RECIPE.of_kind(ALGORITHM):
        assert f"chart-objective-vs-{hp.name}" in ids
    assert "t_0002" in text
    best_row = [tr for tr in root.iter(f"{XHTML}tr") if tr.get("class") == "best"]
    assert len(best_row) == 1 and "t_0002" in "".join(best_row[0].itertext())
    for name, value in METRICS.items():
        assert name in text and repr(value) in text
    # The timeline plots the 3 scored trials; the failed one is in the table and counted in a note.
    timeline = next(s for s in svgs if s.get("id") == "chart-objective-timeline")
    assert len([c for c in timeline.iter("{http://www.w3.org/2000/svg}circle") if c.get("fill") != "none"]) == 3
    assert "1 trial(s) without an objective" in text
    assert "out of memory &lt;boom&gt; &amp; more" in text  # escaped
    # The categorical hyperparameter is on a categorical axis: its tick labels are the values.
    mask_chart = next(s for s in svgs if s.get("id") == "chart-objective-vs-recency_mask")
    labels = {t.text for t in mask_chart.iter("{http://www.w3.org/2000/svg}text")}
    assert {"true", "false"} <= labels
    # The learning curve has the best trial's 3 epochs, objective and loss.
    curve = next(s for s in svgs if s.get("id") == "chart-learning-curve")
    assert len(list(curve.iter("{http://www.w3.org/2000/svg}polyline"))) == 2
    assert "t_0002" in curve.find("{http://www.w3.org/2000/svg}title").text
    assert not list(tmp_path.rglob(".report.html.*"))  # no temporary file left behind


def test_single_trial_version_without_hpo(tmp_path):
    trial = {"trial_id": "single", "hidden_dimension": "32", "bptt": "4", "recency_mask": "true",
             "objective": None, "seconds": 3.2, "device": "cpu", "status": "TERMINATED"}
    d = _version(tmp_path, [trial], perform_hpo=False)
    text, root, collector = _parse(write_report(d))
    assert [s.get("id") for s in _svgs(root)] == ["chart-learning-curve"]  # no search: no empty search charts
    assert "no per-epoch history" in text
    # With fit()'s per-epoch records (loss, no objective) the curve shows the loss alone.
    trial["history"] = [{"epoch": 1, "loss": 5.1, "events_per_second": 900.0, "seconds": 2.0},
                        {"epoch": 2, "loss": 4.7, "events_per_second": 950.0, "seconds": 1.9}]
    d.write_trials([trial])
    text, root, collector = _parse(write_report(d))
    curve = next(s for s in _svgs(root) if s.get("id") == "chart-learning-curve")
    assert len(list(curve.iter("{http://www.w3.org/2000/svg}polyline"))) == 1
    assert "single" in curve.find("{http://www.w3.org/2000/svg}title").text
    assert "single" in text and "no HPO" in text
    assert "no trial has an objective value" not in text
    for value in METRICS.values():
        assert repr(value) in text


def test_minimize_objective_history_with_metrics_and_no_metrics_file(tmp_path):
    trials = [_trial("a", 64, 8, "true", 0.30, history=False), _trial("b", 96, 12, "false", 0.20, history=False)]
    trials[1]["history"] = [{"epoch": 1, "loss": 4.0, "metrics": {"coverage": 0.5, "precision_at_25": 0.25}},
                            {"epoch": 2, "loss": 3.5, "metrics": {"coverage": 0.6, "precision_at_25": 0.20}},
                            {"epoch": 2, "loss": 3.4, "metrics": {"coverage": 0.6, "precision_at_25": 0.19}}]
    d = _version(tmp_path, trials, metrics=None, objective={"metricName": "precision_at_25", "type": "Minimize"})
    text, root, _ = _parse(write_report(d))
    best = next(tr for tr in root.iter(f"{XHTML}tr") if tr.get("class") == "best")
    assert "b" == next(best.iter(f"{XHTML}td")).text
    assert "no metrics.json" in text
    assert learning_curve(trials[1], "precision_at_25") == [(1.0, 0.25, 4.0), (2.0, 0.19, 3.4)]


def test_empty_and_broken_inputs(tmp_path):
    d = VersionFiles(tmp_path / "v")
    d.path.mkdir()
    d.trials_json.write_text("{not json")
    text, root, _ = _parse(write_report(d))
    assert len(_svgs(root)) == N_CHARTS


def test_helpers():
    assert best_trial([{"objective": None}, {"objective": float("nan")}]) is None
    assert best_trial([{"trial_id": "x", "objective": None}])["trial_id"] == "x"
    ticks = nice_ticks(0.0123, 0.0456)
    assert ticks[0] <= 0.0123 and ticks[-1] >= 0.0456 and 3 <= len(ticks) <= 10
    assert len(nice_ticks(5.0, 5.0)) >= 2


def test_nested_trial_records(tmp_path):
    """TrialRecord.to_dict() rows (params and metrics nested) read like the flat trials.json rows."""
    flat = _trial("n1", 64, 16, "false", 0.0123)
    nested = {k: v for k, v in flat.items() if k not in ("hidden_dimension", "bptt", "recency_mask")
              and k not in SERVICE_METRIC_NAMES}
    nested["params"] = {"hidden_dimension": "64", "bptt": "16", "recency_mask": "false"}
    nested["metrics"] = {m: flat[m] for m in SERVICE_METRIC_NAMES}
    text, root, _ = _parse(write_report(_version(tmp_path, [nested])))
    chart = next(s for s in _svgs(root) if s.get("id") == "chart-objective-vs-bptt")
    assert len([c for c in chart.iter("{http://www.w3.org/2000/svg}circle") if c.get("fill") != "none"]) == 1
    assert repr(flat["coverage"]) in text


@pytest.mark.parametrize("n", [1, 40])
def test_many_or_few_trials(tmp_path, n):
    trials = [_trial(f"t{i}", 32 + i, 2 + i % 30, "true" if i % 2 else "false", 0.01 + i * 1e-4, t0=1000.0 + i)
              for i in range(n)]
    _, root, _ = _parse(write_report(_version(tmp_path, trials)))
    assert len(_svgs(root)) == N_CHARTS


def test_report_shows_where_trials_stopped_and_which_model_is_served(tmp_path):
    """Issue 18: the stopped trials (epoch and why), each row's model, the refit row not counted as a trial
    without an objective, and the best trial as the version marked it."""
    kept, stopped = _trial("trial_000", 64, 16, "true", 0.0131), _trial("trial_001", 128, 8, "false", 0.0102, epochs=1)
    kept.update(role="best", model="best_trial_model", stopped_at_epoch=None, stop_reason=None, peak_epoch=2)
    reason = "stopped after epoch 1 (rung 1 of 2): objective 0.0102 below 0.0131, the cutoff for the best 1/3"
    stopped.update(role="trial", model=None, stopped_at_epoch=1, stop_reason=reason, peak_epoch=1)
    refit = {**_trial("refit", 64, 16, "true", None, epochs=2), "role": "refit", "model": "model",
             "stopped_at_epoch": None, "stop_reason": None, "peak_epoch": None}
    d = _version(tmp_path, [kept, stopped, refit])
    text, root, _ = _parse(write_report(d))
    assert "<h2>Early stopping</h2>" in text and "rung 1 of 2" in text
    table = next(t for t in root.iter(f"{XHTML}table") if any(th.text == "stopped after" for th in t.iter(f"{XHTML}th")))
    rows = {tr.find(f"{XHTML}td").text: [td.text for td in tr.findall(f"{XHTML}td")]
            for tr in table.iter(f"{XHTML}tr") if tr.find(f"{XHTML}td") is not None}
    headers = [th.text for th in table.iter(f"{XHTML}th")]
    column = {name: headers.index(name) for name in ("stopped after", "peak epoch", "model")}
    assert rows["trial_001"][column["stopped after"]] == "1" and rows["trial_000"][column["stopped after"]] == "-"
    assert rows["trial_000"][column["peak epoch"]] == "2"
    assert rows["refit"][column["model"]] == "model/ (refit on all training interactions, served)"
    assert rows["trial_000"][column["model"]] == "best_trial_model/ (trial's own, kept)"
    best_rows = [tr for tr in root.iter(f"{XHTML}tr") if tr.get("class") == "best"]
    assert [tr.find(f"{XHTML}td").text for tr in best_rows] == ["trial_000"]
    assert "without an objective" not in text  # the refit row has none by design
    assert "stopped_at_epoch" in (d.path / "trials.csv").read_text().splitlines()[0]
