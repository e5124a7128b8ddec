"""`neuroscale check`: the CI gate that never goes falsely green.

Parses every YAML file of a GitOps repository (bounded against hostile input),
validates every object against Kubernetes or CRD schemas, runs the one policy
engine, runs the footgun lints, and against a base computes the cost delta and
the rendered diff. Entry point: `neuroscale.check.runner.run_check`.
"""
