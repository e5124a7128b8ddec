"""Schema validation: built-in kinds from kubernetes-validate's data, custom resources from their CRDs."""
