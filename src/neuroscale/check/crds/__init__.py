"""CRDs without flags: the releases a repository pins, their CRDs fetched once into a local cache.

`pins` reads which releases of which projects (KServe, Argo CD, Kyverno, the
Knative operator, cert-manager) a repository installs; `pull` fetches their
CRDs from the release artifacts (or a directory, or a cluster) into `cache`,
which `neuroscale check` reads automatically. The catalogue of projects is a
data file (`check/data/crd-releases.yaml`).
"""
