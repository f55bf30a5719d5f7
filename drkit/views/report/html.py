"""The report as one self-contained HTML file for auditors: inline CSS and SVG, no scripts that
run, no network. A Content-Security-Policy that forbids every fetch makes a stray external
resource fail loudly in the browser instead of leaking the report's readers to a third party.

The page embeds its own JSON model (`drkit.report/1`) and its sha256; `drkit report` then seals
it with the host's evidence key (drkit/evidence/report_seal.py), and `drkit evidence verify
--report FILE.html` checks both (docs/reports.md, "Sealed HTML").
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from drkit.core.display import format_size, format_when
from drkit.core.durations import format_duration
from drkit.core.jsonshape import dumps
from drkit.evidence.records import utc_text
from drkit.evidence.report_seal import UNSIGNED_KEY, model_blocks, seal_page
from drkit.views.report import charts
from drkit.views.report.formats import register_format
from drkit.views.report.model import PolicyReport, Report

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _template() -> Template:
    """Compiled once per process: the page and chart templates are the same for every report."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["duration"] = lambda s: "n/a" if s is None else format_duration(s)
    env.filters["exposure"] = lambda s: "unbounded" if s is None else format_duration(s)
    env.filters["pct"] = lambda f: "n/a" if f is None else f"{f * 100:.2f}%"
    env.filters["share"] = lambda f: "n/a" if f is None else f"{f:.1%}"
    env.filters["when"] = lambda t: format_when(t, never="never")
    env.filters["day"] = lambda t: "n/a" if t is None else utc_text(t)[:10]
    env.filters["size"] = format_size
    env.globals["verdict"] = verdict
    return env.get_template("report.html.j2")


def verdict(ok: bool | None) -> str:
    """CSS class of a figure against its target: ok, bad, or na (undefined)."""
    return "na" if ok is None else ("ok" if ok else "bad")


def _policy_view(p: PolicyReport, report: Report) -> dict:
    rpo, rto = p.rpo, p.rto
    return {
        "p": p,
        "rpo_class": verdict(rpo.met),
        "worst_class": verdict(rpo.within(rpo.worst_exposure_s)),
        "now_class": verdict(rpo.within(rpo.current_exposure_s)),
        "vrpo_class": verdict(p.verified_rpo.met),
        "force_class": "" if p.in_force.coverage == 1 else "na",
        "rto_class": verdict(None if rto.attainment is None else rto.attainment >= 1.0),
        "p95_class": verdict(None if rto.rta_p95_s is None else rto.rta_p95_s <= rto.target_s),
        "proj_class": verdict(None if rto.projected_exceeds_rto is None else not rto.projected_exceeds_rto),
        "exposure_chart": charts.exposure_chart(p, report.period),
        "rta_chart": charts.rta_chart(p, report.period),
        **_evidence_rows(p.items),
    }


ROUTINE_LISTED = 200


def _evidence_rows(items) -> dict:
    """Every record an auditor must see (drills, checks, forgets, any failure, any signature problem)
    plus the newest ROUTINE_LISTED passing backups; a year of 15-minute backups would otherwise make
    a 10 MB page. The heading's counts and `drkit evidence verify` still cover every record."""
    ordered = sorted(items, key=lambda i: (i.record.finished_at, i.record.started_at))
    routine = [n for n, i in enumerate(ordered)
               if i.verified and i.record.kind == "backup" and i.record.result == "pass"]
    hidden = set(routine[:-ROUTINE_LISTED] if len(routine) > ROUTINE_LISTED else [])
    return {"evidence_items": [i for n, i in enumerate(ordered) if n not in hidden],
            "evidence_omitted": len(hidden)}


@register_format("html", seal=seal_page)
def render(report: Report) -> str:
    """The page, unsealed: its seal block names no key until `seal_page` signs it."""
    blocks = model_blocks(dumps(report))
    return _template().render(report=report, policies=[_policy_view(p, report) for p in report.policies],
                              model=blocks, unsigned_key=Markup(UNSIGNED_KEY))

