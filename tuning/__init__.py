"""Hyperparameter optimisation for aws-hrnn: the CreateSolution request and its Ray Tune search."""
