"""The node-exporter textfile that every job and the daemon refresh after each run
(`--prometheus FILE` / `DRKIT_PROMETHEUS_TEXTFILE`, docs/operations.md "Prometheus").

It holds what `drkit status --prometheus` writes (exposure, objectives, last drill RTA, per
policy; drkit/views/report/prometheus.py) plus per policy and job: the last run's finish time
and success, the last success's finish time, and run counts by result from the evidence catalog
(counters that survive restarts because the catalog is their store).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from drkit.core.policy import Policy
from drkit.engines.catalog import Catalog
from drkit.evidence.records import parse_utc
from drkit.views.report.prometheus import render, write_textfile
from drkit.views.status import status_board

log = logging.getLogger(__name__)

ENV = "DRKIT_PROMETHEUS_TEXTFILE"


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str


LAST_RUN = Family("drkit_last_run_timestamp_seconds", "gauge", "Finish time of the newest run of the job.")
LAST_SUCCESS = Family("drkit_last_success_timestamp_seconds", "gauge",
                      "Finish time of the newest passing run of the job (NaN: none yet).")
LAST_OK = Family("drkit_last_run_success", "gauge", "1 when the newest run of the job passed, else 0.")
RUNS = Family("drkit_runs_total", "counter", "Runs of the job recorded in the evidence catalog, by result.")


def job_metrics(catalog: Catalog, policies: list[Policy]) -> str:
    """The per-job families in exposition format 0.0.4 (HELP and TYPE once per family)."""
    samples: dict[Family, list[str]] = defaultdict(list)
    for policy in policies:
        by_kind: dict[str, list[tuple[str, int, str, str | None]]] = defaultdict(list)
        for kind, result, count, finished, passed in catalog.run_summary(policy.name):
            by_kind[kind].append((result, count, finished, passed))
        for kind, rows in sorted(by_kind.items()):
            labels = {"policy": policy.name, "job": kind}
            result, _, finished, passed = max(rows, key=lambda row: row[2])   # the newest run's row
            samples[LAST_RUN].append(_sample(LAST_RUN, labels, _seconds(finished)))
            samples[LAST_OK].append(_sample(LAST_OK, labels, 1 if result == "pass" else 0))
            samples[LAST_SUCCESS].append(_sample(LAST_SUCCESS, labels, _seconds(passed) if passed else None))
            samples[RUNS] += [_sample(RUNS, {**labels, "result": r}, count) for r, count, _, _ in rows]
    lines: list[str] = []
    for family in (LAST_RUN, LAST_SUCCESS, LAST_OK, RUNS):
        if samples[family]:
            lines += [f"# HELP {family.name} {family.help}", f"# TYPE {family.name} {family.kind}", *samples[family]]
    return "\n".join(lines) + "\n" if lines else ""


def refresh(catalog: Catalog, state_dir: Path, policies: list[Policy], path: Path, now: datetime) -> bool:
    """Rewrite the textfile atomically; False (and a warning) when it cannot be written, since a
    metrics file must never turn a good backup into a failed one."""
    text = render(status_board(catalog, state_dir, policies, now).policies, now.timestamp())
    try:
        write_textfile(path, text + job_metrics(catalog, policies))
    except OSError as exc:
        log.warning("could not write the Prometheus textfile %s: %s", path, exc.strerror or exc)
        return False
    return True


def _seconds(text: str) -> float:
    return parse_utc(text).timestamp()


def _sample(family: Family, labels: dict[str, str], value: float | None) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())   # policy names and jobs are [a-z0-9-]
    shown = "NaN" if value is None else repr(float(value)) if not float(value).is_integer() else str(int(value))
    return f"{family.name}{{{text}}} {shown}"
