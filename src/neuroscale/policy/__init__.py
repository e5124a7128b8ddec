"""Guardrail policies: one engine for CI (`neuroscale check`), embedded admission and cluster export.

Entry points: `admission.admit()` evaluates objects; `bundled.bundled_policy_documents()`
is the generated guardrail set; `export.export_policies()` writes it for a cluster;
`testrunner.run_tests()` runs Kyverno-format test suites; `repository.load_repository_policies()`
reads a GitOps repository's own `policies/`.
"""
