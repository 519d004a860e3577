"""The report's charts: the objective over the search, against each searched hyperparameter, and the best
trial's learning curve. A search always gets its timeline and curve (empty with a note when there is
nothing to plot); a hyperparameter the request fixed gets no chart (one value says nothing), and a single
model (no HPO) only its learning curve: there is no search to chart."""

from __future__ import annotations

from hrnn.recipe import CATEGORICAL

from .svg import BLUE, GREEN, ORANGE, Chart, fmt
from .trials import learning_curve, number


def all_charts(trials: list[dict], metric: str, maximize: bool, best: dict | None, algorithm: list,
               extra: list[str], searched: bool = True) -> list[Chart]:
    """Timeline, one chart per searched algorithm hyperparameter then per ``extra`` name, learning curve;
    only the learning curve when nothing was ``searched``."""
    if not searched:
        return [curve_chart(best, metric)]
    charts = [timeline_chart(trials, metric, maximize, best)]
    for hp in algorithm:
        charts.append(hyperparameter_chart(hp.name, hp.values if hp.type == CATEGORICAL else None, trials, metric,
                                           best))
    for name in extra:
        numeric = all(number(t.get(name)) is not None for t in trials if name in t)
        values_seen = tuple(sorted({str(t[name]).lower() for t in trials if name in t}))
        charts.append(hyperparameter_chart(name, None if numeric else values_seen, trials, metric, best))
    charts.append(curve_chart(best, metric))
    return charts


def _timeline_x(trials: list[dict], scored: list[dict]) -> tuple[list[dict], list[float], str, bool]:
    """Seconds since the search started when every scored trial has ``ended_at``, else the trial's order."""
    timed = scored and all(number(t.get("ended_at")) is not None for t in scored)
    if timed:
        origin = min(number(t.get("started_at")) or number(t["ended_at"]) for t in scored)
        scored = sorted(scored, key=lambda t: number(t["ended_at"]))
        xs = [number(t["ended_at"]) - origin for t in scored]
        return scored, xs, "seconds since the search started (trial end)", timed
    order = {id(t): i + 1 for i, t in enumerate(trials)}
    return scored, [float(order[id(t)]) for t in scored], "trial number (no times recorded)", timed


def timeline_chart(trials: list[dict], metric: str, maximize: bool, best: dict | None) -> Chart:
    """Each trial's objective over the search, with the best-so-far line."""
    scored = [t for t in trials if number(t.get("objective")) is not None]
    scored, xs, x_label, timed = _timeline_x(trials, scored)
    chart = Chart("chart-objective-timeline", f"{metric} of each trial over the search", x_label, metric)
    if not scored:
        chart.empty("no trial has an objective value" + (" (a version without HPO)" if len(trials) <= 1 else ""))
        return chart
    ys = [number(t["objective"]) for t in scored]
    x, y = chart.x_axis(xs + ([0.0] if timed else []), integer=not timed), chart.y_axis(ys)
    chart.frame(x, y)
    running, best_so_far = [], None
    for xv, yv in zip(xs, ys):
        if best_so_far is None or (yv > best_so_far if maximize else yv < best_so_far):
            best_so_far = yv
        running.append((x(xv), y(best_so_far)))
    chart.line(running, GREEN, step=True, dash="4 3")
    hi = {i for i, t in enumerate(scored) if t is best}
    chart.points([(x(xv), y(yv), f"{t.get('trial_id')}: {metric} {fmt(yv)}") for xv, yv, t in zip(xs, ys, scored)],
                 BLUE, hi)
    chart.legend([("trial", BLUE), ("best so far", GREEN)])
    return chart


def hyperparameter_chart(name: str, categorical_values: tuple[str, ...] | None, trials: list[dict], metric: str,
                         best: dict | None) -> Chart:
    """The objective against one hyperparameter (on a categorical axis when ``categorical_values``)."""
    chart = Chart(f"chart-objective-vs-{name}", f"{metric} against {name}", name, metric)
    rows = []
    for t in trials:
        objective, raw = number(t.get("objective")), t.get(name)
        if objective is None or raw is None:
            continue
        rows.append((t, str(raw).lower() if categorical_values is not None else number(raw), objective))
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
    chart.points([(x(xv), y(r[2]), f"{r[0].get('trial_id')}: {name} {r[0].get(name)}, {metric} {fmt(r[2])}")
                  for xv, r in zip(xs, rows)], BLUE, hi)
    return chart


def curve_chart(best: dict | None, metric: str) -> Chart:
    """The best trial's objective and training loss per epoch (loss on a second axis)."""
    title = f"learning curve of the best trial ({best.get('trial_id')})" if best else "learning curve"
    chart = Chart("chart-learning-curve", title, "epoch", metric, "training loss")
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
        chart.points([(x(e), y(o), f"epoch {e:g}: {metric} {fmt(o)}") for e, o in objectives], BLUE, radius=3)
    if y2 is not None:
        chart.line([(x(e), y2(l)) for e, l in losses], ORANGE)
        chart.points([(x(e), y2(l), f"epoch {e:g}: loss {fmt(l)}") for e, l in losses], ORANGE, radius=3)
    chart.legend([(metric, BLUE), ("training loss", ORANGE)])
    return chart
