"""The model server: one process serving one model revision over KServe V1 and Open Inference Protocol V2.

Why its own package: the model server is the data plane and must stay small, fast to start and
independent of the control plane (it never imports engine, gitops, policy, services or check).
Layers, from the outside in:

* `server` - `main(argv)`: parse settings, load the model before binding the port, run uvicorn.
* `app` - a hand-written ASGI app: exact-path routing, body limits, one error-to-HTTP mapping, metrics.
* `v1`, `v2` - thin protocol adapters: JSON bytes <-> the data plane's own request/response types.
* `dataplane` - validates tensors against the model and predicts; never sees HTTP.
* `loaders`, `storage` - resolve the storage URI to a local file and load it with the declared framework.
"""
