"""Cost: pricing, workload resources and the resource/cost delta of a change. Pure calculations.

`workloads()` reads Deployments, StatefulSets, DaemonSets and InferenceServices
(FM-38: InferenceServices count too), `cost_delta()` compares two revisions
under a `PriceTable`, and `render_markdown()` turns the result into PR-comment
tables.
"""

from neuroscale.cost.delta import CostDelta, WorkloadDelta, cost_delta
from neuroscale.cost.prices import PriceTable
from neuroscale.cost.render import render_markdown
from neuroscale.cost.workloads import Workload, workloads

__all__ = ["CostDelta", "PriceTable", "Workload", "WorkloadDelta", "cost_delta", "render_markdown", "workloads"]
