"""HPO of the aws-hrnn recipe on Ray Tune: search space and searcher, the trial, the driver, its JSON record,
results."""

from .driver import run_hpo
from .results import HPOError, HPOResult, TrialRecord
from .search import search_space, suggest
from .trial import TRIAL_STATE_NAME

__all__ = ["HPOError", "HPOResult", "TRIAL_STATE_NAME", "TrialRecord", "run_hpo", "search_space", "suggest"]
