"""The embedded control plane: main@sha → admission → local model-server processes → routes → status.

Run as `python -m neuroscale.engine --home HOME`; the supervisor calls
`neuroscale.engine.runtime.stop_all(home)` for a full shutdown.
"""
