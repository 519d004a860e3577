"""Live sessions on the service side: the durable log of tracked events (:mod:`.eventlog`) and the live states of
loaded models (:mod:`.states`)."""
