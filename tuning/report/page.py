"""The report page: summary, tunedHPOParams, solution metrics, charts and the trial table, as one
self-contained XHTML document (no scripts, nothing fetched), written atomically next to the results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from hrnn.atomic import atomic_write_text
from hrnn.errors import ServiceError
from hrnn.evaluation.metrics import SERVICE_METRIC_NAMES
from hrnn.recipe import ALGORITHM, HRNN_RECIPE

from ..workspace import VersionFiles
from .charts import all_charts
from .svg import esc, fmt
from .trials import best_trial, flatten_trial, number, objective_of


CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e9f6e9; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { font-size: 13px; color: #555; }
.wide { overflow-x: auto; max-width: 100%; }
.wide table { font-size: 12px; }
.note { color: #666; font-size: 13px; }
"""


@dataclass(frozen=True)
class _Version:
    """What every section needs to know about the version, worked out once."""

    version: dict
    metric: str
    kind: str
    trials: list[dict]
    best: dict | None
    algorithm: list  # the recipe's algorithm hyperparameters
    tuned: dict
    extra: list[str]  # tuned names the recipe does not know (another recipe): they get a column and a chart
    searched: bool  # performHPO: there was a search to chart

def _version(describe: dict, trials: list[dict]) -> _Version:
    version = describe.get("solutionVersion", {}) if isinstance(describe, dict) else {}
    metric, kind = objective_of(version.get("solutionConfig"))
    trials = [flatten_trial(t) for t in trials if isinstance(t, dict)]
    fixed = _fixed_names(version.get("solutionConfig"))
    algorithm = [hp for hp in HRNN_RECIPE.of_kind(ALGORITHM) if hp.name not in fixed]
    known = {hp.name for hp in HRNN_RECIPE.of_kind(ALGORITHM)}
    tuned = (version.get("tunedHPOParams") or {}).get("algorithmHyperParameters") or {}
    searched = version.get("performHPO") is not False
    return _Version(version, metric, kind, trials, best_trial(trials, kind == "Maximize"), algorithm, tuned,
                    [k for k in tuned if k not in known], searched)


def _fixed_names(solution_config: Any) -> set[str]:
    """The hyperparameters the request fixed (not searched), by their plain names."""
    fixed = (solution_config or {}).get("algorithmHyperParameters") if isinstance(solution_config, dict) else None
    names = set()
    for name in fixed if isinstance(fixed, dict) else ():
        hp = HRNN_RECIPE.lookup(str(name))
        names.add(hp.name if hp else str(name))
    return names


def render_report(describe: dict, metrics: dict, trials: list[dict]) -> str:
    """The page for a version's describe.json, metrics.json and trials.json contents."""
    v = _version(describe, trials)
    arn = v.version.get("solutionVersionArn", "")
    body = [f"<h1>Solution version {esc(v.version.get('name') or arn or 'report')}</h1>",
            _table(["", ""], _summary_rows(v))]
    if v.tuned:
        body.append("<h2>tunedHPOParams</h2>")
        body.append(_table(["hyperparameter", "value"], [[k, val] for k, val in v.tuned.items()]))
    body += _metrics_section(metrics)
    body += _charts_section(v)
    body += _trials_section(v)
    title = f"hrnn report: {v.version.get('name') or arn}"
    return ("<!DOCTYPE html>\n"
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def _summary_rows(v: _Version) -> list[list[Any]]:
    version, best, trials = v.version, v.best, v.trials
    hpo = version.get("performHPO")
    rows = [
        ["solutionVersionArn", version.get("solutionVersionArn", "")],
        ["status", version.get("status", "-")],
        ["recipe", version.get("recipeArn", "-")],
        ["performHPO", json.dumps(hpo)],
        ["objective", f"{v.metric} ({v.kind})" if hpo else f"{v.metric} (no HPO)"],
        ["trials", f"{len(trials)} ({sum(number(t.get('objective')) is not None for t in trials)} with an objective)"],
        ["best trial", best.get("trial_id", "-") if best else "-"],
        ["best objective", fmt(number(best.get("objective")), 6) if best else "-"],
        ["trainingHours", version.get("trainingHours", "-")],
        ["created", _when(version.get("creationDateTime"))],
        ["last updated", _when(version.get("lastUpdatedDateTime"))],
    ]
    if version.get("failureReason"):
        rows.append(["failureReason", version["failureReason"]])
    return rows


def _metrics_section(metrics: dict) -> list[str]:
    values = (metrics or {}).get("metrics") or {}
    out = ["<h2>Solution metrics (held-out users)</h2>"]
    if not values:
        return out + ['<p class="note">no metrics.json (the version is not ACTIVE)</p>']
    names = [m for m in SERVICE_METRIC_NAMES if m in values] + [m for m in values if m not in SERVICE_METRIC_NAMES]
    return out + [_table(["metric", "value"], [[m, _plain(values[m])] for m in names], numeric={1})]


def _charts_section(v: _Version) -> list[str]:
    charts = all_charts(v.trials, v.metric, v.kind == "Maximize", v.best, v.algorithm, v.extra, v.searched)
    out = ["<h2>Charts</h2>"]
    unscored = sum(number(t.get("objective")) is None and t.get("role") != "refit" for t in v.trials)
    if unscored:
        out.append(f'<p class="note">{unscored} trial(s) without an objective value are not plotted; '
                   "see the table below.</p>")
    out.append('<div class="charts">')
    out += [f"<figure>{chart.svg()}<figcaption>{esc(chart.title)}</figcaption></figure>" for chart in charts]
    return out + ["</div>"]


def _trials_section(v: _Version) -> list[str]:
    """The table of every trial (the best highlighted), then any trial errors."""
    params, metric, trials = [hp.name for hp in HRNN_RECIPE.of_kind(ALGORITHM)] + v.extra, v.metric, v.trials
    others = [m for m in SERVICE_METRIC_NAMES if m != metric]
    headers = ["trial", *params, short_metric(metric), *map(short_metric, others), "epochs", "stopped after",
               "peak epoch", "seconds", "device", "node", "status", "model"]
    rows, classes = [], []
    for t in trials:
        rows.append([t.get("trial_id", "-"), *[t.get(p, "-") for p in params], fmt(number(t.get("objective")), 4),
                     *[fmt(number(t.get(m)), 4) for m in others],
                     t.get("epochs", "-"), _or_dash(t.get("stopped_at_epoch")), _or_dash(t.get("peak_epoch")),
                     fmt(number(t.get("seconds")), 3), t.get("device", "-") or "-",
                     str(t.get("node", "-") or "-")[:8], t.get("status", "-"), _model_cell(t)])
        classes.append("best" if t is v.best else "")
    first_metric = 1 + len(params)
    numeric_cols = set(range(first_metric, first_metric + len(SERVICE_METRIC_NAMES) + 4))
    legend = ", ".join(f"{short_metric(m)} = {m}" for m in SERVICE_METRIC_NAMES)
    out = ["<h2>Trials</h2>", f'<div class="wide">{_table(headers, rows, numeric_cols, classes)}</div>',
           f'<p class="note">{esc(legend)}. The objective and metrics of a trial are on the validation '
           "interactions after its last epoch (the one early stopping stopped it after, if it did).</p>"]
    stopped = [[t.get("trial_id", "-"), t["stop_reason"]] for t in trials if t.get("stop_reason")]
    if stopped:
        out.append("<h2>Early stopping</h2>" + _table(["trial_id", "why it stopped"], stopped))
    if any(t.get("error") for t in trials):
        errors = [[t.get("trial_id", "-"), t["error"]] for t in trials if t.get("error")]
        out.append("<h2>Trial errors</h2>" + _table(["trial_id", "error"], errors))
    return out


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _model_cell(trial: dict) -> str:
    """Which of the version's models a row's is: the served one (``model/``) or the best trial's own."""
    where = trial.get("model")
    if not where:
        return "-"
    served = "served" if where == "model" else "kept"
    what = "refit on all training interactions" if trial.get("role") == "refit" else "trial's own"
    return f"{where}/ ({what}, {served})"


def short_metric(name: str) -> str:
    """A column header that keeps the table within the page: precision_at_25 -> p@25."""
    for long, short in (("normalized_discounted_cumulative_gain_at_", "ndcg@"), ("mean_reciprocal_rank_at_", "mrr@"),
                        ("precision_at_", "p@")):
        if name.startswith(long):
            return short + name[len(long):]
    return name


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{cls}>")
        for j, cell in enumerate(row):
            out.append(f'<td class="num">{esc(cell)}</td>' if j in numeric else f"<td>{esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _when(ts: Any) -> str:
    x = number(ts)
    return datetime.fromtimestamp(x, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if x is not None else "-"


def _plain(value: Any) -> str:
    """A metric value as GetSolutionMetrics gives it (rounded to 6 decimals), or "-"."""
    x = number(value)
    return "-" if x is None else repr(round(x, 6))


def _read(read: Callable[[], Any], default: Any) -> Any:
    try:
        return read()
    except (OSError, ValueError, KeyError, AttributeError, ServiceError):  # missing or damaged: left out
        return default


def write_report(version: VersionFiles) -> Path:
    """Write a solution version's report (atomically) and return its path; unreadable parts are left out."""
    describe = {"solutionVersion": _read(version.read_describe, {})}
    metrics = _read(version.read_metrics, {})
    trials = _read(version.read_trials, [])
    atomic_write_text(version.report, render_report(describe, metrics, trials))
    return version.report
