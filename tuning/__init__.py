"""The service around the hrnn library: Amazon Personalize's CreateSolution requests, solution versions
(training, or HPO on Ray Tune), the workspace, batch jobs, the ``hrnn`` command and the HTTP endpoint."""
