"""A static HTML report of a solution version: ``report.html`` next to its results.

Reads a version's description, metrics and trials (:class:`tuning.workspace.VersionFiles`) and writes one
self-contained page (inline SVG, no scripts, no stylesheet or image fetched from anywhere) with:

* the version's status, objective, ``tunedHPOParams`` and GetSolutionMetrics values;
* the objective of every trial over the search (seconds since the search started when the trials carry
  ``ended_at``, else their order in ``trials.json``), with the best-so-far line;
* the objective against each algorithm hyperparameter the request did not fix (a categorical one on a
  categorical axis);
* the best trial's learning curve: objective and training loss per epoch;
* a table of every trial, scrolling inside the page rather than widening it.

Trials without an objective (failed, or stopped before their first report) are drawn as far as they have
values, and a search's empty chart says so instead of vanishing. A version without HPO has no search to
chart: it gets its learning curve only. The page is well-formed XML (XHTML served as HTML) and written
atomically.

    from tuning.report import write_report
    write_report(workspace.resolve_version(arn))   # -> VersionFiles.report

Layout: ``trials`` reads trial rows tolerantly, ``svg`` draws charts, ``charts`` picks what to plot,
``page`` assembles and writes the document.
"""

from .page import render_report, write_report
from .svg import nice_ticks
from .trials import DEFAULT_OBJECTIVE, best_trial, learning_curve, objective_of

__all__ = [
    "DEFAULT_OBJECTIVE", "best_trial", "learning_curve", "nice_ticks", "objective_of", "render_report",
    "write_report",
]
