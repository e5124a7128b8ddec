"""The endpoint specification: one typed model, rendered to and parsed from KServe InferenceService."""
