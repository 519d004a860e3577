"""A static HTML report of a solution version: ``report.html`` next to its results.

Reads the version directory's ``describe.json``, ``metrics.json`` and ``trials.json`` and writes one
self-contained page (inline SVG, no scripts, no stylesheet or image fetched from anywhere) with:

* the version's status, objective, ``tunedHPOParams`` and GetSolutionMetrics values;
* the objective of every trial over the search (seconds since the search started when the trials carry
  ``ended_at``, else their order in ``trials.json``), with the best-so-far line;
* the objective against each of the recipe's algorithm hyperparameters (a categorical one on a
  categorical axis);
* the best trial's learning curve: objective and training loss per epoch;
* a table of every trial.

A version without HPO (one trial, no objective) and trials without an objective (failed, or stopped before
their first report) are drawn as far as they have values; an empty chart says so instead of vanishing, so
the page always has the same charts. The page is well-formed XML (XHTML served as HTML) and written
atomically.

    from tuning.report import write_report
    write_report(workspace.resolve_version(arn))        # -> <version dir>/report.html
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from hrnn.atomic import atomic_write_text
from hrnn.metrics import SERVICE_METRIC_NAMES
from hrnn.recipe import ALGORITHM, CATEGORICAL, HRNN_RECIPE

REPORT_NAME = "report.html"
DEFAULT_OBJECTIVE = ("precision_at_25", "Maximize")

WIDTH, HEIGHT = 560, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 64, 28, 48
BLUE, ORANGE, GREY, GREEN = "#1f77b4", "#ff7f0e", "#888888", "#2ca02c"


# ---- reading ---------------------------------------------------------------------------------------------

def _read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, null, NaN, a string that is not a number)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def objective_of(solution_config: dict | None) -> tuple[str, str]:
    """(metric name, "Maximize" | "Minimize") from the version's solutionConfig, with the HPO defaults."""
    hpo = (solution_config or {}).get("hpoConfig") or {}
    objective = hpo.get("hpoObjective") or {}
    name = objective.get("metricName") or DEFAULT_OBJECTIVE[0]
    kind = objective.get("type") or DEFAULT_OBJECTIVE[1]
    return str(name), ("Minimize" if str(kind).lower() == "minimize" else "Maximize")


def best_trial(trials: list[dict], maximize: bool = True) -> dict | None:
    """The trial with the best finite objective (the first of equals); a lone trial without one is still
    "the" trial of a version without HPO."""
    scored = [t for t in trials if _number(t.get("objective")) is not None]
    if scored:
        sign = 1.0 if maximize else -1.0
        return max(scored, key=lambda t: sign * _number(t["objective"]))
    return trials[0] if len(trials) == 1 else None


def _epoch_objective(entry: dict, metric: str) -> float | None:
    if "objective" in entry:
        return _number(entry.get("objective"))
    return _number((entry.get("metrics") or {}).get(metric))


def learning_curve(trial: dict | None, metric: str) -> list[tuple[float, float | None, float | None]]:
    """[(epoch, objective, loss)], the last report of each epoch (a retried epoch is reported twice)."""
    by_epoch: dict[float, tuple[float | None, float | None]] = {}
    for i, entry in enumerate((trial or {}).get("history") or []):
        if not isinstance(entry, dict):
            continue
        epoch = _number(entry.get("epoch"))
        epoch = float(i + 1) if epoch is None else epoch
        by_epoch[epoch] = (_epoch_objective(entry, metric), _number(entry.get("loss")))
    return [(e, o, l) for e, (o, l) in sorted(by_epoch.items())]


# ---- SVG -----------------------------------------------------------------------------------------------

def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"


def _plain(value: Any) -> str:
    """A metric value as GetSolutionMetrics gives it (rounded to 6 decimals), or "-"."""
    x = _number(value)
    return "-" if x is None else repr(round(x, 6))


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (whole numbers only with ``integer``)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    start = math.floor(lo / step) * step
    ticks = []
    x = start
    while x <= hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(x, 12))
        x += step
    if ticks[-1] < hi:
        ticks.append(round(x, 12))
    return ticks


class _Axis:
    def __init__(self, values: Iterable[float], lo_px: float, hi_px: float, categories: list[str] | None = None,
                 integer: bool = False):
        self.categories = categories
        self.lo_px, self.hi_px = lo_px, hi_px
        if categories is not None:
            self.ticks = list(range(len(categories)))
            self.lo, self.hi = -0.5, len(categories) - 0.5
        else:
            vals = list(values)
            self.ticks = nice_ticks(min(vals), max(vals), integer=integer) if vals else [0.0, 1.0]
            self.lo, self.hi = self.ticks[0], self.ticks[-1]

    def __call__(self, value: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return self.lo_px + (value - self.lo) / span * (self.hi_px - self.lo_px)

    def label(self, tick: float) -> str:
        if self.categories is not None:
            return self.categories[int(tick)]
        step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 0.0
        if step <= 0 or step >= 1 or abs(tick) >= 1e5:
            return _fmt(tick, 3)
        # Enough decimals to tell neighbouring ticks apart (0.0755 and 0.0760, not 0.076 twice).
        mantissa = round(step / 10 ** math.floor(math.log10(step)), 6)
        decimals = max(0, math.ceil(-math.log10(step) - 1e-9)) + (0 if mantissa in (1, 2, 5) else 1)
        return f"{tick:.{decimals}f}"


class _Chart:
    """One SVG: a frame, axes with ticks and labels, then marks."""

    def __init__(self, chart_id: str, title: str, x_label: str, y_label: str, y2_label: str | None = None):
        self.chart_id, self.title = chart_id, title
        self.x_label, self.y_label, self.y2_label = x_label, y_label, y2_label
        self.left, self.right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
        self.parts: list[str] = []

    def x_axis(self, values, categories=None, integer: bool = False) -> _Axis:
        return _Axis(values, self.left, self.right, categories, integer)

    def y_axis(self, values) -> _Axis:
        return _Axis(values, self.bottom, self.top)

    def frame(self, x: _Axis, y: _Axis, y2: _Axis | None = None) -> None:
        p = self.parts
        p.append(f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                 f'height="{self.bottom - self.top}" fill="none" stroke="#ccc"/>')
        for t in x.ticks:
            px = x(t)
            p.append(f'<line x1="{px:.1f}" y1="{self.bottom}" x2="{px:.1f}" y2="{self.bottom + 4}" stroke="#444"/>')
            p.append(f'<text x="{px:.1f}" y="{self.bottom + 16}" text-anchor="middle">{_esc(x.label(t))}</text>')
        for t in y.ticks:
            py = y(t)
            p.append(f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" stroke="#eee"/>')
            p.append(f'<text x="{self.left - 6}" y="{py + 4:.1f}" text-anchor="end">{_esc(y.label(t))}</text>')
        if y2 is not None:
            for t in y2.ticks:
                py = y2(t)
                p.append(f'<text x="{self.right + 6}" y="{py + 4:.1f}" text-anchor="start" '
                         f'fill="{ORANGE}">{_esc(y2.label(t))}</text>')
        cx, cy = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        p.append(f'<text x="{cx:.1f}" y="{HEIGHT - 10}" text-anchor="middle">{_esc(self.x_label)}</text>')
        p.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})" '
                 f'fill="{BLUE}">{_esc(self.y_label)}</text>')
        if self.y2_label:
            xr = WIDTH - 12
            p.append(f'<text x="{xr}" y="{cy:.1f}" text-anchor="middle" transform="rotate(90 {xr} {cy:.1f})" '
                     f'fill="{ORANGE}">{_esc(self.y2_label)}</text>')

    def empty(self, message: str) -> None:
        cx, cy = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        self.parts.append(f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                          f'height="{self.bottom - self.top}" fill="#fafafa" stroke="#ccc"/>')
        self.parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" fill="{GREY}">{_esc(message)}</text>')

    def points(self, pts: list[tuple[float, float, str]], color: str, highlight: set[int] = frozenset(),
               radius: float = 4.0) -> None:
        for i, (px, py, tip) in enumerate(pts):
            if i in highlight:
                self.parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{radius + 3:.1f}" fill="none" '
                                  f'stroke="{GREEN}" stroke-width="2"><title>{_esc(tip)}</title></circle>')
            self.parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{radius:.1f}" fill="{color}" '
                              f'fill-opacity="0.75"><title>{_esc(tip)}</title></circle>')

    def line(self, pts: list[tuple[float, float]], color: str, step: bool = False, dash: str | None = None) -> None:
        if len(pts) < 2:
            return
        coords = []
        for i, (px, py) in enumerate(pts):
            if step and i:
                coords.append(f"{px:.1f},{pts[i - 1][1]:.1f}")
            coords.append(f"{px:.1f},{py:.1f}")
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{color}" '
                          f'stroke-width="1.5"{extra}/>')

    def legend(self, entries: list[tuple[str, str]]) -> None:
        x = self.left + 8
        for label, color in entries:
            self.parts.append(f'<rect x="{x}" y="{self.top - 18}" width="10" height="10" fill="{color}"/>')
            self.parts.append(f'<text x="{x + 14}" y="{self.top - 9}">{_esc(label)}</text>')
            x += 24 + 7 * len(label)

    def svg(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{_esc(self.chart_id)}" class="chart" '
                f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
                f'font-family="sans-serif" font-size="11"><title>{_esc(self.title)}</title>'
                + "".join(self.parts) + "</svg>")


# ---- the charts ------------------------------------------------------------------------------------------

def _timeline(trials: list[dict], metric: str, maximize: bool, best: dict | None) -> _Chart:
    scored = [t for t in trials if _number(t.get("objective")) is not None]
    timed = scored and all(_number(t.get("ended_at")) is not None for t in scored)
    if timed:
        origin = min(_number(t.get("started_at")) or _number(t["ended_at"]) for t in scored)
        scored = sorted(scored, key=lambda t: _number(t["ended_at"]))
        xs = [_number(t["ended_at"]) - origin for t in scored]
        x_label = "seconds since the search started (trial end)"
    else:
        order = {id(t): i + 1 for i, t in enumerate(trials)}
        xs = [float(order[id(t)]) for t in scored]
        x_label = "trial (order in trials.json)"
    chart = _Chart("chart-objective-timeline", f"{metric} of each trial over the search", x_label, metric)
    if not scored:
        chart.empty("no trial has an objective value" + (" (a version without HPO)" if len(trials) <= 1 else ""))
        return chart
    ys = [_number(t["objective"]) for t in scored]
    x, y = chart.x_axis(xs + ([0.0] if timed else [])), chart.y_axis(ys)
    chart.frame(x, y)
    running, best_so_far = [], None
    for xv, yv in zip(xs, ys):
        if best_so_far is None or (yv > best_so_far if maximize else yv < best_so_far):
            best_so_far = yv
        running.append((x(xv), y(best_so_far)))
    chart.line(running, GREEN, step=True, dash="4 3")
    hi = {i for i, t in enumerate(scored) if t is best}
    chart.points([(x(xv), y(yv), f"{t.get('trial_id')}: {metric} {_fmt(yv)}") for xv, yv, t in zip(xs, ys, scored)],
                 BLUE, hi)
    chart.legend([("trial", BLUE), ("best so far", GREEN)])
    return chart


def _hyperparameter_chart(name: str, categorical_values: tuple[str, ...] | None, trials: list[dict], metric: str,
                          best: dict | None) -> _Chart:
    chart = _Chart(f"chart-objective-vs-{name}", f"{metric} against {name}", name, metric)
    rows = []
    for t in trials:
        objective, raw = _number(t.get("objective")), t.get(name)
        if objective is None or raw is None:
            continue
        rows.append((t, str(raw).lower() if categorical_values is not None else _number(raw), objective))
    rows = [r for r in rows if r[1] is not None]
    if not rows:
        chart.empty(f"no trial has both {name} and an objective value")
        return chart
    if categorical_values is not None:
        categories = list(categorical_values) + sorted({r[1] for r in rows} - set(categorical_values))
        x = chart.x_axis([], categories)
        xs = [float(categories.index(r[1])) for r in rows]
    else:
        xs = [r[1] for r in rows]
        x = chart.x_axis(xs)
    y = chart.y_axis([r[2] for r in rows])
    chart.frame(x, y)
    hi = {i for i, r in enumerate(rows) if r[0] is best}
    chart.points([(x(xv), y(r[2]), f"{r[0].get('trial_id')}: {name} {r[0].get(name)}, {metric} {_fmt(r[2])}")
                  for xv, r in zip(xs, rows)], BLUE, hi)
    return chart


def _curve_chart(best: dict | None, metric: str) -> _Chart:
    title = f"learning curve of the best trial ({best.get('trial_id')})" if best else "learning curve"
    chart = _Chart("chart-learning-curve", title, "epoch", metric, "training loss")
    curve = learning_curve(best, metric)
    objectives = [(e, o) for e, o, _ in curve if o is not None]
    losses = [(e, l) for e, _, l in curve if l is not None]
    if not objectives and not losses:
        chart.empty("no per-epoch history" + ("" if best else " (no best trial)"))
        return chart
    x = chart.x_axis([e for e, _, _ in curve], integer=True)
    y = chart.y_axis([o for _, o in objectives]) if objectives else chart.y_axis([0.0, 1.0])
    y2 = chart.y_axis([l for _, l in losses]) if losses else None
    chart.frame(x, y, y2)
    if objectives:
        chart.line([(x(e), y(o)) for e, o in objectives], BLUE)
        chart.points([(x(e), y(o), f"epoch {e:g}: {metric} {_fmt(o)}") for e, o in objectives], BLUE, radius=3)
    if y2 is not None:
        chart.line([(x(e), y2(l)) for e, l in losses], ORANGE)
        chart.points([(x(e), y2(l), f"epoch {e:g}: loss {_fmt(l)}") for e, l in losses], ORANGE, radius=3)
    chart.legend([(metric, BLUE), ("training loss", ORANGE)])
    return chart


# ---- the page ------------------------------------------------------------------------------------------

CSS = """
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #e9f6e9; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; }
figcaption { font-size: 13px; color: #555; }
.note { color: #666; font-size: 13px; }
"""


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{cls}>")
        for j, cell in enumerate(row):
            out.append(f'<td class="num">{_esc(cell)}</td>' if j in numeric else f"<td>{_esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _when(ts: Any) -> str:
    x = _number(ts)
    return datetime.fromtimestamp(x, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if x is not None else "-"


def _flatten(trial: dict) -> dict:
    """A trial row as ``trials.json`` has it; nested ``params``/``metrics`` (``TrialRecord.to_dict()``) are
    lifted to the top level where the flat key is absent."""
    row = dict(trial)
    for nested in ("params", "metrics"):
        if isinstance(trial.get(nested), dict):
            for key, value in trial[nested].items():
                row.setdefault(key, value)
    return row


def render_report(describe: dict, metrics: dict, trials: list[dict]) -> str:
    version = describe.get("solutionVersion", {}) if isinstance(describe, dict) else {}
    metric, kind = objective_of(version.get("solutionConfig"))
    maximize = kind == "Maximize"
    trials = [_flatten(t) for t in trials if isinstance(t, dict)]
    best = best_trial(trials, maximize)
    algorithm = [hp for hp in HRNN_RECIPE.of_kind(ALGORITHM)]
    # Extra algorithm-like columns a trial may carry (another recipe): numeric ones get a chart too.
    known = {hp.name for hp in algorithm}
    tuned = (version.get("tunedHPOParams") or {}).get("algorithmHyperParameters") or {}
    extra = [k for k in tuned if k not in known]

    arn = version.get("solutionVersionArn", "")
    body = [f"<h1>Solution version {_esc(version.get('name') or arn or 'report')}</h1>"]
    summary = [
        ["solutionVersionArn", arn],
        ["status", version.get("status", "-")],
        ["recipe", version.get("recipeArn", "-")],
        ["performHPO", json.dumps(version.get("performHPO"))],
        ["objective", f"{metric} ({kind})" if version.get("performHPO") else f"{metric} (no HPO)"],
        ["trials", f"{len(trials)} ({sum(_number(t.get('objective')) is not None for t in trials)} with an objective)"],
        ["best trial", best.get("trial_id", "-") if best else "-"],
        ["best objective", _fmt(_number(best.get("objective")), 6) if best else "-"],
        ["trainingHours", version.get("trainingHours", "-")],
        ["created", _when(version.get("creationDateTime"))],
        ["last updated", _when(version.get("lastUpdatedDateTime"))],
    ]
    if version.get("failureReason"):
        summary.append(["failureReason", version["failureReason"]])
    body.append(_table(["", ""], summary))
    if tuned:
        body.append("<h2>tunedHPOParams</h2>")
        body.append(_table(["hyperparameter", "value"], [[k, v] for k, v in tuned.items()]))

    values = (metrics or {}).get("metrics") or {}
    body.append("<h2>Solution metrics (held-out users)</h2>")
    if values:
        names = [m for m in SERVICE_METRIC_NAMES if m in values] + [m for m in values if m not in SERVICE_METRIC_NAMES]
        body.append(_table(["metric", "value"], [[m, _plain(values[m])] for m in names], numeric={1}))
    else:
        body.append('<p class="note">no metrics.json (the version is not ACTIVE)</p>')

    charts = [_timeline(trials, metric, maximize, best)]
    for hp in algorithm:
        charts.append(_hyperparameter_chart(hp.name, hp.values if hp.type == CATEGORICAL else None, trials, metric,
                                            best))
    for name in extra:
        numeric = all(_number(t.get(name)) is not None for t in trials if name in t)
        values_seen = tuple(sorted({str(t[name]).lower() for t in trials if name in t}))
        charts.append(_hyperparameter_chart(name, None if numeric else values_seen, trials, metric, best))
    charts.append(_curve_chart(best, metric))
    body.append("<h2>Charts</h2>")
    unscored = sum(_number(t.get("objective")) is None for t in trials)
    if unscored:
        body.append(f'<p class="note">{unscored} trial(s) without an objective value are not plotted; '
                    "see the table below.</p>")
    body.append('<div class="charts">')
    for chart in charts:
        body.append(f"<figure>{chart.svg()}<figcaption>{_esc(chart.title)}</figcaption></figure>")
    body.append("</div>")

    body.append("<h2>Trials</h2>")
    params = [hp.name for hp in algorithm] + extra
    headers = ["trial_id", *params, metric, *[m for m in SERVICE_METRIC_NAMES if m != metric], "epochs", "seconds",
               "device", "node", "status"]
    rows, classes = [], []
    for t in trials:
        rows.append([t.get("trial_id", "-"), *[t.get(p, "-") for p in params], _fmt(_number(t.get("objective")), 6),
                     *[_fmt(_number(t.get(m)), 6) for m in SERVICE_METRIC_NAMES if m != metric],
                     t.get("epochs", "-"), _fmt(_number(t.get("seconds")), 4), t.get("device", "-") or "-",
                     t.get("node", "-") or "-", t.get("status", "-")])
        classes.append("best" if t is best else "")
    first_metric = 1 + len(params)
    numeric_cols = set(range(first_metric, first_metric + len(SERVICE_METRIC_NAMES) + 2))
    body.append(_table(headers, rows, numeric_cols, classes))
    if any(t.get("error") for t in trials):
        errors = [[t.get("trial_id", "-"), t["error"]] for t in trials if t.get("error")]
        body.append("<h2>Trial errors</h2>" + _table(["trial_id", "error"], errors))

    title = f"hrnn report: {version.get('name') or arn}"
    return ("<!DOCTYPE html>\n"
            '<html xmlns="http://www.w3.org/1999/xhtml" lang="en"><head><meta charset="utf-8"/>'
            f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def write_report(version_dir: Path) -> Path:
    """Write ``report.html`` into a solution version directory (atomically) and return its path."""
    version_dir = Path(version_dir)
    describe = _read(version_dir / "describe.json", {})
    metrics = _read(version_dir / "metrics.json", {})
    trials = _read(version_dir / "trials.json", {}).get("trials") or []
    target = version_dir / REPORT_NAME
    atomic_write_text(target, render_report(describe, metrics, trials))
    return target
