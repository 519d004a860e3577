"""The service's resources beyond solutions: schemas, dataset groups, datasets, import jobs, campaigns and
batch inference jobs, with the background job runner that trains versions and runs jobs.

Every operation is a function ``(service, request) -> response`` listed by its service name in
:data:`tuning.resources.api.OPERATIONS`; :func:`tuning.operations.call_operation` runs one.
"""
