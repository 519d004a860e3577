"""HPO of the aws-hrnn recipe on Ray Tune: search space and searcher, the trial, the driver, results."""

from .driver import run_hpo
from .results import HPOError, HPOResult, TrialRecord
from .search import make_searcher, search_space
from .trial import TRIAL_STATE_NAME

__all__ = ["HPOError", "HPOResult", "TRIAL_STATE_NAME", "TrialRecord", "make_searcher", "run_hpo", "search_space"]
