"""`drkit status --prometheus FILE`: a node-exporter textfile-collector file, one sample per policy.

Written atomically (temporary file in the same directory, then rename), so node_exporter never
scrapes half a file. Unknown values are NaN (never a made-up 0 that would look like a fresh
backup); an unbounded exposure is +Inf, which alerts on `> drkit_rpo_seconds` as it should.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from drkit.core.atomic import write_text_atomically
from drkit.views.status import PolicyStatus

WINDOW_LABEL = "30d"


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    kind: str = "gauge"


def _value(value: float | bool | None) -> str:
    if value is None:
        return "NaN"
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value) if not value.is_integer() else str(int(value))


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _samples(s: PolicyStatus) -> list[tuple[Metric, dict[str, str], float | bool | None]]:
    report = s.report
    last_backup = s.last_backup.finished_at.timestamp() if s.last_backup else None
    drill_at = s.last_drill.finished_at.timestamp() if s.last_drill else None
    return [
        (Metric("drkit_last_backup_timestamp_seconds", "Finish time of the newest successful drkit backup."), {},
         last_backup),
        (Metric("drkit_exposure_seconds", "Age of the newest restorable recovery point (+Inf: none)."), {},
         s.exposure_s),
        (Metric("drkit_rpo_seconds", "Recovery point objective."), {}, s.rpo_s),
        (Metric("drkit_rto_seconds", "Recovery time objective."), {}, s.rto_s),
        (Metric("drkit_rpo_breach", "1 when the exposure exceeds the RPO now."), {}, s.rpo_breached),
        (Metric("drkit_last_drill_timestamp_seconds", "Finish time of the newest completed restore drill."), {},
         drill_at),
        (Metric("drkit_last_drill_rta_seconds", "Recovery time actual of the newest completed restore drill."), {},
         s.last_drill_rta_s),
        (Metric("drkit_last_drill_success", "1 when the newest completed drill passed within the RTO."), {},
         s.last_drill_ok),
        (Metric("drkit_drill_overdue", "1 when no drill passed within 1.5 drill intervals."), {}, s.drill_overdue),
        (Metric("drkit_suspicious_snapshots", "Snapshots the ransomware guardrail marked that nobody accepted "
                "(forget is blocked while above 0)."), {}, len(s.suspicious)),
        (Metric("drkit_projected_full_rto_seconds", "Projected time to restore the full current data set."), {},
         report.rto.projected_full_rto_s),
        (Metric("drkit_rpo_attainment_ratio", "Share of the window with exposure within the RPO."),
         {"window": WINDOW_LABEL}, report.rpo.attainment),
        (Metric("drkit_rto_attainment_ratio", "Share of the window's drill slots met within the RTO."),
         {"window": WINDOW_LABEL}, report.rto.attainment),
        (Metric("drkit_in_force", "1 when the objectives are in force now (objectives.in_force_from, by default "
                "the first evidence record)."), {}, s.in_force),
        (Metric("drkit_in_force_ratio", "Share of the window in which the objectives were in force (the "
                "attainment ratios cover only that part)."), {"window": WINDOW_LABEL}, report.in_force.coverage),
    ]


def render(statuses: list[PolicyStatus], generated_at: float) -> str:
    """Text exposition format 0.0.4: HELP and TYPE once per metric, then one line per policy."""
    by_metric: dict[str, tuple[Metric, list[str]]] = {}
    for status in statuses:
        for metric, labels, value in _samples(status):
            labels = {"policy": status.policy, **labels}
            text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            by_metric.setdefault(metric.name, (metric, []))[1].append(f"{metric.name}{{{text}}} {_value(value)}")
    lines: list[str] = []
    for metric, samples in by_metric.values():
        lines += [f"# HELP {metric.name} {metric.help}", f"# TYPE {metric.name} {metric.kind}", *samples]
    lines += ["# HELP drkit_status_timestamp_seconds When drkit status wrote this file.",
              "# TYPE drkit_status_timestamp_seconds gauge", f"drkit_status_timestamp_seconds {_value(generated_at)}"]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, text: str) -> None:
    """Temp file + rename in the target directory: node_exporter sees the old file or the new one."""
    write_text_atomically(path, text)
