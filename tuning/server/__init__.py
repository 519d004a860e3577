"""``hrnn serve``: the service's HTTP endpoint (SigV4-verified JSON 1.1 control plane, REST-JSON runtime and
events) over the one operation layer (:mod:`tuning.operations`)."""
