"""The report on a terminal: one rich table, figures coloured against their targets, then caveats."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..durations import format_duration
from ..evidence import utc_text
from .model import PolicyReport, Report


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _mark(text: str, ok: bool | None) -> Text:
    style = "" if ok is None else ("green" if ok else "red")
    return Text(text, style=style)


def _stamp(moment) -> str:
    return utc_text(moment)[:16].replace("T", " ") if moment is not None else "never"


def summary_table(report: Report) -> Table:
    period = report.period
    table = Table(title=f"Compliance {_stamp(period.since)} – {_stamp(period.until)} UTC", title_justify="left")
    for column in ("policy", "tier", "RPO", "RPO attained", "worst exposure", "exposure now", "RTO",
                   "RTO attained", "RTA p95", "last pass", "projected full RTO", "caveats"):
        table.add_column(column, justify="left" if column in ("policy", "last pass") else "right")
    for p in report.policies:
        table.add_row(*_row(p))
    return table


def _row(p: PolicyReport) -> list:
    rpo, rto = p.rpo, p.rto
    slots = f"{percent(rto.attainment)} ({rto.slots_met}/{rto.slots_counted})"
    projected = format_duration(rto.projected_full_rto_s) if rto.projected_full_rto_s is not None else "n/a"
    return [
        p.name, str(p.tier), format_duration(rpo.target_s),
        _mark(percent(rpo.attainment), rpo.attainment >= 1.0),
        _mark(format_duration(rpo.worst_exposure_s), rpo.worst_exposure_s is not None
              and rpo.worst_exposure_s <= rpo.target_s),
        _mark(format_duration(rpo.current_exposure_s), rpo.current_exposure_s is not None
              and rpo.current_exposure_s <= rpo.target_s),
        format_duration(rto.target_s),
        _mark(slots, None if rto.attainment is None else rto.attainment >= 1.0),
        _mark(format_duration(rto.rta_p95_s) if rto.rta_p95_s is not None else "n/a",
              None if rto.rta_p95_s is None else rto.rta_p95_s <= rto.target_s),
        _stamp(rto.last_pass_at),
        _mark(projected, None if rto.projected_exceeds_rto is None else not rto.projected_exceeds_rto),
        str(len(p.caveats)),
    ]


def render(report: Report) -> Group:
    parts: list = [summary_table(report)]
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    for p in report.policies:
        for caveat in p.caveats:
            parts.append(Text(f"{p.name}: {caveat}"))
    return Group(*parts)
