"""The only package that touches git: the bare GitOps repository and pull requests."""
