"""The CreateSolution envelope as data: botocore's shapes plus this project's explicit narrowing.

Why: botocore's service model is this project's contract for every request shape (member names, types,
lengths, patterns, which members are required). Reading it, rather than re-typing it, means a member the
service adds is known here the day botocore ships it, and the limits cannot drift. What this project
accepts differently is not scattered through parse functions but listed in :data:`OVERLAY`, one entry per
member with the reason; :func:`tuning.shapes.validate` walks the merged table. Everything that depends on
the recipe (hyperparameter names and values, ranges, objectives) or ties members together is checked
afterwards, by :mod:`.hyperparameters`, :mod:`.hpo_config` and :mod:`.rules`. The overlay is merged with the other
operations' in :func:`tuning.contract.table`, which :func:`.create_solution.check_envelope` validates against.
"""

from __future__ import annotations


REQUEST_SHAPE = "CreateSolutionRequest"
DEFAULT_SOLUTION_NAME = "hrnn-solution"

_STRING_VALUES = 'hyperparameter values are strings, e.g. "32"'
_JOB_COUNT = 'a number of jobs as a string, e.g. "4"'
_RANGE = "a range needs its name and both bounds"

# "Shape.member" -> what this project changes on that member reference. Keys: "required" (True/False,
# rewrites the structure's required list), "min"/"max"/"pattern"/"enum" (narrow the member's shape),
# "refused", "const"+"reason", "hint" (see tuning.shapes), and "why" (for the reader; not used).
# A list's item is "Shape.member", a map's value "Shape.value".
OVERLAY: dict[str, dict] = {
    "CreateSolutionRequest.name": {
        "required": False,
        "why": f"one local workspace holds the solutions; an unnamed request is {DEFAULT_SOLUTION_NAME!r}"},
    "CreateSolutionRequest.datasetGroupArn": {
        "required": False, "why": "the interactions come from a file given at training time"},
    "CreateSolutionRequest.performAutoTraining": {
        "const": False,
        "reason": "automatic training is not supported here; train solution versions with "
                  "create-solution-version, and omit it or set it to false"},
    "CreateSolutionRequest.performIncrementalUpdate": {
        "const": False, "reason": "only the Semantic-Similarity recipe supports it; omit it or set it to false"},
    "CreateSolutionRequest.eventType": {
        "min": 1, "hint": "omit it to train on all event types", "why": "an empty event type matches no event"},
    "SolutionConfig.optimizationObjective": {
        "refused": "only the User-Personalization and Personalized-Ranking recipes support it"},
    "SolutionConfig.eventsConfig": {
        "refused": "not supported by aws-hrnn; filter events with eventType and eventValueThreshold instead"},
    "SolutionConfig.trainingDataConfig": {
        "refused": "not supported by aws-hrnn, which trains on the interactions alone"},
    "SolutionConfig.autoTrainingConfig": {
        "refused": "not supported by aws-hrnn: automatic training is not supported here"},
    "HyperParameters.value": {"hint": _STRING_VALUES, "why": "the wire type surprises JSON writers"},
    "FeatureTransformationParameters.value": {"hint": _STRING_VALUES, "why": "as for HyperParameters"},
    "HPOResourceConfig.maxNumberOfTrainingJobs": {"hint": _JOB_COUNT, "why": "a number on the wire as a string"},
    "HPOResourceConfig.maxParallelTrainingJobs": {"hint": _JOB_COUNT, "why": "a number on the wire as a string"},
    "IntegerHyperParameterRange.name": {"required": True, "why": _RANGE},
    "IntegerHyperParameterRange.minValue": {"required": True, "why": _RANGE},
    "IntegerHyperParameterRange.maxValue": {"required": True, "why": _RANGE},
    "ContinuousHyperParameterRange.name": {"required": True, "why": _RANGE},
    "ContinuousHyperParameterRange.minValue": {"required": True, "why": _RANGE},
    "ContinuousHyperParameterRange.maxValue": {"required": True, "why": _RANGE},
    "CategoricalHyperParameterRange.name": {"required": True, "why": _RANGE},
    "CategoricalHyperParameterRange.values": {
        "required": True, "min": 1, "why": "a categorical range needs at least one value to try"},
    "AutoMLConfig.recipeList": {"min": 1, "why": "an empty list names no recipe to choose from"},
}

# Under performAutoML every solutionConfig member but autoMLConfig is ignored, so the members a recipe
# run refuses are only shape-checked there.
AUTOML_LIFTS_REFUSALS_IN = "SolutionConfig"
