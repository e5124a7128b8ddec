"""FM-33: the Backstage demo image serves a real portal.

The chart's default image is for demos (different defaults, slow start); a
floating tag makes every restart a possible upgrade.
"""

from __future__ import annotations

from neuroscale.doctor.index import SnapshotIndex, dig
from neuroscale.doctor.k8s import ref
from neuroscale.doctor.model import Category, DoctorFinding, Rule
from neuroscale.findings import Severity

DEMO_IMAGES = ("backstage/backstage", "ghcr.io/backstage/backstage", "docker.io/backstage/backstage")


def check(index: SnapshotIndex) -> list[DoctorFinding]:
    found = []
    for deployment in index.objects("Deployment", "backstage"):
        for container in dig(deployment, "spec", "template", "spec", "containers") or []:
            image = str(container.get("image", ""))
            repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
            if repo in DEMO_IMAGES:
                found.append(RULE.finding(
                    obj=ref(deployment, "Deployment"), message=f"Backstage runs the demo image {image}",
                    evidence=f"spec.template.spec.containers[{container.get('name')}].image={image}",
                    root_cause="the chart's default image is a demo build, not an app built for this platform",
                    fix="build your own image (`npx @backstage/create-app`), push it, and pin it by digest in "
                    "values-prod.yaml: backstage.backstage.image.{registry,repository,tag}",
                ))
    return found


RULE = Rule(
    id="backstage-demo-image", title="Backstage built for this platform", covers=("FM-33",),
    category=Category.PORTAL, severity=Severity.WARNING, check=check,
)
