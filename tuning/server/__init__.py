"""``hrnn serve``: the service's HTTP endpoint (SigV4-verified JSON 1.1 control plane and REST-JSON runtime)
over the operations layer (:mod:`tuning.operations`, :mod:`tuning.resources`)."""
