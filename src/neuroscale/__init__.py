"""NeuroScale: self-service model serving."""
