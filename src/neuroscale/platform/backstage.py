"""Backstage as a wrapper Helm chart with a dev and a prod profile.

The wrapper's dependency is named `backstage` and that chart's container
settings live under its own `backstage:` key, so every container value here is
nested `backstage.backstage.*` (FM-30). The profiles are separate value files
on top of a shared `values.yaml` (image, probes, resources, the token
Secret) that holds no app-config at all. Each profile carries its complete
app-config: guest sign-in exists only in the dev file, GitHub OAuth only in
prod, so layering can never smuggle the guest provider into production
(FM-32, R-18), and each file is checkable on its own.

The chart starts the backend with only the ConfigMap's app-config, and the
image runs with NODE_ENV=production, so each profile carries every section the
backend needs at start (`kubernetes:` included). Prod keeps its catalog in
PostgreSQL (an external server: the chart's bundled database comes from
Bitnami's moved catalogue), ingests users and teams with the GitHub org
provider so the sign-in resolver finds a User entity for every member, and
reaches GitHub as a GitHub App rather than with a broad personal token.
"""

from __future__ import annotations

from typing import Any

from neuroscale.platform import versions
from neuroscale.platform.options import InitOptions
from neuroscale.platform.template import TEMPLATE_DIR

BACKSTAGE_PATH = "infrastructure/backstage"
BACKSTAGE_NAMESPACE = "backstage"
RELEASE = "neuroscale-backstage"
SECRET_NAME = "neuroscale-backstage-secrets"
CONTAINER_PORT = 7007
#: The local side of `neuroscale cluster tunnels` for Backstage; baseUrls must use it (FM-29).
LOCAL_PORT = 7010
LOCAL_URL = f"http://localhost:{LOCAL_PORT}"


def _probe(path: str, *, delay: int, period: int = 10, failures: int = 3) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": CONTAINER_PORT, "scheme": "HTTP"},
            "initialDelaySeconds": delay, "periodSeconds": period, "timeoutSeconds": 5,
            "failureThreshold": failures}


def _template_location(options: InitOptions) -> str:
    base = options.repo_url.removesuffix(".git")
    if options.github_slug:
        base = f"https://github.com/{options.github_slug}"
    return f"{base}/blob/main/{TEMPLATE_DIR}/template.yaml"


def chart() -> dict[str, Any]:
    return {
        "apiVersion": "v2", "name": RELEASE, "version": "0.1.0",
        "description": "NeuroScale developer portal (wrapper around the upstream Backstage chart)",
        "dependencies": [{"name": versions.BACKSTAGE.name, "version": versions.BACKSTAGE.version,
                          "repository": versions.BACKSTAGE.repo}],
    }


#: What the prod profile reads from the Secret (GitHub App, OAuth app, PostgreSQL); named in the README.
PROD_SECRET_KEYS = ("GITHUB_APP_ID", "GITHUB_APP_CLIENT_ID", "GITHUB_APP_CLIENT_SECRET", "GITHUB_APP_PRIVATE_KEY",
                    "AUTH_GITHUB_CLIENT_ID", "AUTH_GITHUB_CLIENT_SECRET", "POSTGRES_HOST", "POSTGRES_PORT",
                    "POSTGRES_USER", "POSTGRES_PASSWORD")
#: The Kubernetes plugin of the backend refuses to start without this section outside development.
KUBERNETES_CONFIG = {"serviceLocatorMethod": {"type": "multiTenant"},
                     "clusterLocatorMethods": [{"type": "config", "clusters": []}]}


def _app_config(options: InitOptions, base_url: str, *, database: dict[str, Any],
                github: dict[str, Any]) -> dict[str, Any]:
    return {
        "app": {"title": "NeuroScale", "baseUrl": base_url},
        "backend": {
            "baseUrl": base_url,
            "listen": {"port": CONTAINER_PORT, "host": "0.0.0.0"},  # probes come from the kubelet (H-04)
            "cors": {"origin": base_url, "credentials": True},
            "database": database,
        },
        "integrations": {"github": [{"host": "github.com", **github}]},
        "kubernetes": KUBERNETES_CONFIG,
        "catalog": {
            # A location must allow Template explicitly or the form never appears (FM-25/26).
            "rules": [{"allow": ["Component", "System", "API", "Resource", "Location"]}],
            "locations": [{"type": "url", "target": _template_location(options), "rules": [{"allow": ["Template"]}]}],
        },
    }


def common_values(options: InitOptions) -> dict[str, Any]:
    """Settings both profiles share: probes for a slow Node.js start, pinned image, token from a Secret."""
    return {"backstage": {
        "backstage": {
            "replicas": 1,
            "revisionHistoryLimit": 2,
            "image": {"registry": "ghcr.io", "repository": "backstage/backstage",
                      "tag": versions.BACKSTAGE_DEV_IMAGE_TAG, "pullPolicy": "IfNotPresent"},
            "containerPorts": {"backend": CONTAINER_PORT},
            # Backstage needs 60-120 s to start: the startup probe allows up to 120 + 30*10 s before restarts.
            "startupProbe": _probe("/.backstage/health/v1/liveness", delay=120, failures=30),
            "readinessProbe": _probe("/.backstage/health/v1/readiness", delay=120),
            "livenessProbe": _probe("/.backstage/health/v1/liveness", delay=300),
            "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            # The GitHub token comes from a Secret (never from Git); a missing Secret stops the pod loudly (FM-34).
            "extraEnvVarsSecrets": [SECRET_NAME],
        },
        "service": {"ports": {"backend": CONTAINER_PORT}},
    }}


def dev_values(options: InitOptions) -> dict[str, Any]:
    """Local profile: guest sign-in, reachable only through the 127.0.0.1 tunnel."""
    # One replica, so an in-memory catalog is consistent; it is rebuilt from the locations at each start.
    app_config = _app_config(options, LOCAL_URL, database={"client": "better-sqlite3", "connection": ":memory:"},
                             github={"token": "${GITHUB_TOKEN}"})
    app_config["auth"] = {"environment": "development",
                          "providers": {"guest": {"dangerouslyAllowOutsideDevelopment": True}}}
    return {"backstage": {"backstage": {"appConfig": app_config}}}


def prod_values(options: InitOptions) -> dict[str, Any]:
    """Production profile: GitHub sign-in for org members, PostgreSQL, a GitHub App, your own image, two replicas."""
    url = f"https://backstage.{options.domain}"
    owner = (options.github_slug or "neuroscale/").split("/")[0]
    database = {"client": "pg", "connection": {"host": "${POSTGRES_HOST}", "port": "${POSTGRES_PORT}",
                                               "user": "${POSTGRES_USER}", "password": "${POSTGRES_PASSWORD}"}}
    app = {"appId": "${GITHUB_APP_ID}", "clientId": "${GITHUB_APP_CLIENT_ID}",
           "clientSecret": "${GITHUB_APP_CLIENT_SECRET}", "privateKey": "${GITHUB_APP_PRIVATE_KEY}"}
    app_config = _app_config(options, url, database=database, github={"apps": [app]})
    # Users and teams come from the GitHub organisation, so every member has the User entity the resolver needs.
    app_config["catalog"]["providers"] = {"githubOrg": [{
        "id": "production", "githubUrl": "https://github.com", "orgs": [owner],
        "schedule": {"frequency": {"hours": 1}, "timeout": {"minutes": 15}, "initialDelay": {"seconds": 30}},
    }]}
    app_config["auth"] = {"environment": "production", "providers": {"github": {"production": {
        "clientId": "${AUTH_GITHUB_CLIENT_ID}", "clientSecret": "${AUTH_GITHUB_CLIENT_SECRET}",
        "signIn": {"resolvers": [{"resolver": "usernameMatchingUserEntityName"}]},
    }}}}
    return {"backstage": {
        "backstage": {
            "replicas": 2,
            # The upstream demo image is not a production base (FM-33): build your own app image (with the
            # GitHub org catalog module and the PostgreSQL client) and pin it here.
            "image": {"registry": "ghcr.io", "repository": f"{owner}/neuroscale-backstage", "tag": "0.1.0",
                      "pullPolicy": "IfNotPresent"},
            "resources": {"requests": {"cpu": "250m", "memory": "768Mi"},
                          "limits": {"cpu": "1", "memory": "1536Mi"}},
            "appConfig": app_config,
        },
        "postgresql": {"enabled": False},
    }}


def backstage_files(options: InitOptions) -> dict[str, Any]:
    return {
        f"{BACKSTAGE_PATH}/Chart.yaml": chart(),
        f"{BACKSTAGE_PATH}/values.yaml": common_values(options),
        f"{BACKSTAGE_PATH}/values-dev.yaml": dev_values(options),
        f"{BACKSTAGE_PATH}/values-prod.yaml": prod_values(options),
    }
