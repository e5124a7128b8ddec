"""The portal: the web form, pull-request pages and REST API of NeuroScale.

An adapter and nothing more: it parses input, calls `neuroscale.services` (and
the engine's read-only `StatusStore`), and renders the result. It never starts
model servers, so stopping the portal never takes an endpoint down.
"""
