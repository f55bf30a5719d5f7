"""`drkit policy explain`: the policy as drkit resolved it (defaults filled in, durations in
seconds) and whether its backup schedule can meet the RPO at all."""

from __future__ import annotations

from dataclasses import dataclass

from drkit.core.feasibility import Feasibility, rpo_feasibility
from drkit.core.jsonshape import JsonDocument
from drkit.core.policy import LoadedPolicy
from drkit.engines.catalog import Catalog


@dataclass(frozen=True)
class PolicyExplanation(JsonDocument, schema="drkit.policy-explanation/1"):
    item: LoadedPolicy
    feasibility: Feasibility

    @property
    def resolved(self) -> dict:
        return self.item.policy.model_dump(mode="json")

    def json_fields(self) -> dict:
        return {"file": str(self.item.file), "policy": self.resolved, "rpo_feasibility": self.feasibility.as_dict()}


def explain_policy(catalog: Catalog, item: LoadedPolicy) -> PolicyExplanation:
    """Feasibility from the p95 of the policy's measured successful backups."""
    durations = [r.duration_s for r in catalog.records(item.name, "backup") if r.result == "pass"]
    return PolicyExplanation(item, rpo_feasibility(item.policy, durations))
