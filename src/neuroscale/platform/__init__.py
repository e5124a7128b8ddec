"""The GitOps platform repository that `neuroscale init` writes (cluster mode)."""
