"""The order in which to recover several systems, and whether that order can meet their RTOs
(`drkit runbook --all`, `drkit policy validate`; docs/recovery.md, "Recovery plan").

Order: every policy after the policies in its `business.depends_on`, and among those free to go,
the most critical tier first (then by name, so the order is stable). A cycle cannot be ordered:
it is a policy error naming the cycle at the `depends_on` line. A dependency on a name that is not
among the policies is reported and otherwise ignored (it may live on another host).

Timeline: one team recovering one system after the other, so system k is back after the sum of
the expected recovery times of systems 1..k. A system whose cumulative time exceeds its own RTO is
flagged: its objective cannot be met in this order, whatever its own restore takes. An unknown
expected time (no drill yet) makes the later cumulative times lower bounds. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter

from drkit.core.errors import PolicyError, Problem
from drkit.core.policy import LoadedPolicy, line_of

DEPENDS_ON = ("business", "depends_on")


def unknown_dependencies(policies: list[LoadedPolicy]) -> list[Problem]:
    names = {item.name for item in policies}
    return [Problem(str(item.file), line_of(item.file, DEPENDS_ON), "business.depends_on",
                    f"names '{dep}', which is not among the policies ({', '.join(sorted(names))}); it is left out "
                    "of the order")
            for item in policies for dep in item.policy.business.depends_on if dep not in names]


def recovery_order(policies: list[LoadedPolicy]) -> list[LoadedPolicy]:
    """Dependencies first, then tier (1 first), then name; PolicyError naming a cycle."""
    by_name = {item.name: item for item in policies}
    graph = TopologicalSorter({item.name: [d for d in item.policy.business.depends_on if d in by_name]
                               for item in policies})
    try:
        graph.prepare()
    except CycleError as exc:
        raise PolicyError([cycle_problem(exc.args[1], by_name)]) from None
    order: list[LoadedPolicy] = []
    ready: list[LoadedPolicy] = []
    while graph.is_active():
        ready += [by_name[name] for name in graph.get_ready()]
        ready.sort(key=lambda item: (item.policy.business.tier, item.name))
        chosen = ready.pop(0)
        order.append(chosen)
        graph.done(chosen.name)
    return order


def cycle_problem(cycle: list[str], by_name: dict[str, LoadedPolicy]) -> Problem:
    """graphlib lists a cycle as [a, b, ..., a], each node needed before the next one."""
    chain = list(reversed(cycle))  # a depends on b depends on ... a
    first = by_name[chain[0]]
    return Problem(str(first.file), line_of(first.file, DEPENDS_ON), "business.depends_on",
                   f"dependency cycle: {' depends on '.join(chain)}; no order can recover these systems "
                   "(remove one of these depends_on)")


@dataclass(frozen=True)
class Step:
    """One system on the recovery timeline (seconds from the start of the recovery)."""

    position: int
    item: LoadedPolicy
    expected_s: float | None  # this system's own recovery time
    done_after_s: float       # cumulative, with unknown times counted as 0 (then `lower_bound`)
    lower_bound: bool         # an earlier or this system's time is unknown
    rto_s: float

    @property
    def misses_rto(self) -> bool:
        return self.done_after_s > self.rto_s


def timeline(order: list[LoadedPolicy], expected_s: dict[str, float | None]) -> list[Step]:
    steps, total, unknown = [], 0.0, False
    for position, item in enumerate(order, 1):
        own = expected_s.get(item.name)
        unknown = unknown or own is None
        total += own or 0.0
        steps.append(Step(position, item, own, total, unknown, item.policy.objectives.rto.total_seconds()))
    return steps
