"""The report on a terminal: one rich table, figures coloured against their targets, then caveats."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from drkit.core.display import format_when
from drkit.core.durations import format_duration
from drkit.evidence.records import utc_text
from drkit.views.report.formats import register_format
from drkit.views.report.model import PolicyReport, Report

LEFT = ("last pass", "last drill", "drill due", "status")
WRAPPED_HEADINGS = ("in force",)
WRAPPED_VALUES = ("status", "last drill")  # may wrap between words when the line is short


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def _mark(text: str, ok: bool | None) -> Text:
    style = "" if ok is None else ("green" if ok else "red")
    return Text(text, style=style)


NOT_IN_FORCE = "grey50"  # time and figures before the objectives came into force: neither met nor missed


def _share(value: float | None) -> str:
    """A percentage as short as it can be without rounding a partial share to 100 % or 0 %."""
    if value is None:
        return "n/a"
    if value in (0.0, 1.0):
        return f"{value * 100:.0f}%"
    return f"{min(max(value * 100, 0.1), 99.9):.1f}%"


def _stamp(moment) -> str:
    return format_when(moment, "never", minutes=True)


def _table(title: str, columns: list[str], rows: list[list]) -> Table:
    """Figures keep their full width (never "90.2…"); only the policy name folds when space is short."""
    table = Table(title=title or None, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, column in enumerate(columns):
        if column == "policy":
            table.add_column(column, overflow="fold", min_width=6)
            continue
        if column in WRAPPED_VALUES:  # "RTO, COPY LAG offsite" wraps between its words rather than squeeze
            longest = max([len(word) for row in rows for word in str(row[i]).split()] + [len(column)])
            table.add_column(column, justify="left", min_width=longest)  # the policy names out of an 80-column line
            continue
        width = max([len(str(row[i])) for row in rows] + [len(word) for word in column.split()])
        # a short figure under a two-word heading: let the heading take two lines, not the row's width
        table.add_column(column, justify="left" if column in LEFT else "right", min_width=width,
                         no_wrap=column not in WRAPPED_HEADINGS)
    for row in rows:
        table.add_row(*row)
    return table


def rpo_table(report: Report) -> Table:
    """Two narrow tables read better than one wide one on an 80-column terminal or in a log. The
    "in force" column appears when some policy's objectives took effect within the period."""
    period = report.period
    partial = any(p.in_force.coverage < 1 for p in report.policies)
    rows = []
    for p in report.policies:
        rpo = p.rpo
        share = [Text(_share(p.in_force.coverage), style="" if p.in_force.coverage == 1 else NOT_IN_FORCE)]
        rows.append([
            p.name, str(p.tier), format_duration(rpo.target_s), *(share if partial else []),
            _mark(percent(rpo.attainment), rpo.met),
            format_duration(rpo.breach_seconds) if rpo.breach_seconds else "-",
            _mark(format_duration(rpo.worst_exposure_s) if rpo.met is not None else "n/a",
                  rpo.within(rpo.worst_exposure_s)),
            _mark(format_duration(rpo.current_exposure_s), rpo.within(rpo.current_exposure_s)),
            str(len(p.caveats))])
    columns = ["policy", "tier", "RPO", *(["in force"] if partial else []), "attained", "breach", "worst", "now",
               "caveats"]
    return _table(f"RPO {_stamp(period.since)} – {_stamp(period.until)} UTC", columns, rows)


def rto_table(report: Report) -> Table:
    rows = []
    for p in report.policies:
        rto = p.rto
        rows.append([
            p.name, format_duration(rto.target_s),
            _mark(percent(rto.attainment), None if rto.attainment is None else rto.attainment >= 1.0),
            f"{rto.slots_met}/{rto.slots_counted}",
            _mark(_duration(rto.rta_p95_s), None if rto.rta_p95_s is None else rto.rta_p95_s <= rto.target_s),
            _duration(rto.rta_max_s),
            utc_text(rto.last_pass_at)[:10] if rto.last_pass_at else "never",
            _mark(_duration(rto.projected_full_rto_s),
                  None if rto.projected_exceeds_rto is None else not rto.projected_exceeds_rto)])
    return _table("RTO (drill slots; recovery time actual, RTA)",
                  ["policy", "RTO", "attained", "slots", "RTA p95", "max", "last pass", "full RTO"], rows)


def repositories_table(report: Report) -> Table | None:
    """The RPO on each repository of policies that have copies (docs/repositories.md); None when
    no policy has one."""
    rows = []
    for p in report.policies:
        if len(p.repositories) < 2:
            continue
        for r in p.repositories:
            rpo = r.rpo
            rows.append([p.name, r.name, r.copy_of or "-", _mark(percent(rpo.attainment), rpo.met),
                         _mark(format_duration(rpo.worst_exposure_s) if rpo.met is not None else "n/a",
                               rpo.within(rpo.worst_exposure_s)),
                         _mark(format_duration(rpo.current_exposure_s), rpo.within(rpo.current_exposure_s)),
                         _stamp(r.last_copy_at) if r.last_copy_at else ("-" if r.copy_of is None else "never")])
    if not rows:
        return None
    return _table("RPO per repository (a copy's points count from the copy run)",
                  ["policy", "repository", "copy of", "attained", "worst", "now", "last copy"], rows)


def _duration(seconds: float | None) -> str:
    return "n/a" if seconds is None else format_duration(seconds)


def render(report: Report) -> Group:
    parts: list = [rpo_table(report), rto_table(report)]
    if (repositories := repositories_table(report)) is not None:
        parts.insert(1, repositories)
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    for p in report.policies:
        parts += _basis(p)
        for caveat in p.caveats:
            parts.append(Text(f"{p.name}: {caveat}"))
    return Group(*parts)


@register_format("table", terminal=render)
def render_text(report: Report) -> str:
    """The table without colour, 160 columns wide: for a file or a pipe."""
    console = Console(record=True, width=160, file=io.StringIO(), highlight=False)
    console.print(render(report))
    return console.export_text()
def _basis(p: PolicyReport) -> list[Text]:
    """Where the in-force time starts and what the projection rests on: the figures' footing."""
    lines = []
    if p.in_force.since is not None and p.in_force.coverage < 1:
        lines.append(Text(f"{p.name}: objectives in force from {_stamp(p.in_force.since)} UTC ({p.in_force.source}): "
                          f"{_share(p.in_force.coverage)} of the period; the time before is not counted",
                          style=NOT_IN_FORCE))
    if p.projection_basis is not None:
        lines.append(Text(f"{p.name}: projected full RTO {_duration(p.rto.projected_full_rto_s)} from "
                          f"{p.projection_basis}"))
    return lines


def status_table(rows) -> Table:
    """`drkit status`: one line per policy that fits 80 columns, problems in red."""
    lines = []
    for r in rows:
        drill = r.last_drill
        problems = ", ".join(r.problems)
        lines.append([
            r.policy, _mark(format_duration(r.exposure_s), not r.rpo_breached), format_duration(r.rpo_s),
            f"{_stamp(drill.finished_at)[:10]} {drill.result}" if drill else "never",
            _mark(_duration(r.last_drill_rta_s), None if drill is None else r.last_drill_ok),
            format_duration(r.rto_s),
            _mark(_stamp(r.due_by)[:10] if r.due_by else "-", None if r.due_by is None else not r.drill_overdue),
            _mark(problems or "OK", not problems) if r.in_force else Text("not in force", style=NOT_IN_FORCE)])
    return _table("", ["policy", "exposure", "RPO", "last drill", "RTA", "RTO", "drill due", "status"], lines)
