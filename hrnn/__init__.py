"""Open re-implementation of Amazon Personalize's hierarchical-RNN recipe (aws-hrnn)."""

__version__ = "0.1.0"
