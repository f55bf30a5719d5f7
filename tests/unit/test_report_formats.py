"""Every format states the in-force coverage and the projection's basis, and paints nothing red
before the objectives came into force (docs/reports.md, "In force" and "Projected full RTO")."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import timedelta

from report_builders import MONTH, History, at, drill, make_policy, new_policy
from rich.table import Table
from rich.text import Text

from drkit.views.report import as_csv, as_json, html, table
from drkit.views.report.model import build_report
from drkit.views.report.prometheus import render as prometheus
from drkit.views.status import policy_status

# RTA 1 h: restore+verify 20 min of which 10 min before the first byte, so 50 min fixed and 1 GB in 10 min
MEASURED = drill(at(27, 10), 1, snapshot=at(27, 2), restore_verify_s=1200, bytes_restored=10**9, first_byte_s=600)


def month_report():
    """A policy new on day 27, one whose objectives take effect only after the month, and one in
    force throughout."""
    new = new_policy(name="new", drills=(MEASURED,), latest_size=(at(29, 2.5), 2 * 10**9))
    later = new_policy(name="later", in_force_from=at(40))
    always = new_policy(name="always", in_force_from=at(-1))
    return build_report([new, later, always], MONTH, MONTH.until)


def cells(rich_table: Table, row: int) -> dict[str, Text | str]:
    return {str(c.header): list(c.cells)[row] for c in rich_table.columns}


def test_table_has_an_in_force_column_grey_lines_and_no_colour_without_objectives_in_force():
    report = month_report()
    rpo = table.rpo_table(report)
    new, later, always = (cells(rpo, i) for i in range(3))
    assert str(new["in force"]) == "9.7%" and new["in force"].style == table.NOT_IN_FORCE
    assert str(always["in force"]) == "100%" and always["in force"].style == ""
    assert str(new["attained"]) == "100.00%" and new["attained"].style == "green"
    assert str(later["attained"]) == "n/a" and later["attained"].style == ""  # neither red nor green
    assert str(later["worst"]) == "n/a" and later["worst"].style == ""
    assert str(always["attained"]).endswith("%") and always["attained"].style == "red"  # days 0-27 count
    lines = [part for part in table.render(report).renderables if isinstance(part, Text)]
    grey = [str(t) for t in lines if t.style == table.NOT_IN_FORCE]
    assert grey[0] == ("new: objectives in force from 2026-01-28 02:30 UTC (first evidence record): 9.7% of the "
                       "period; the time before is not counted")
    assert any(str(t).startswith("new: projected full RTO 1h 10m from 1 drill of 1.0 GB") for t in lines)
    # a report in which every policy was in force throughout keeps the narrower table
    assert "in force" not in [str(c.header) for c in table.rpo_table(replace(report, policies=[report.policies[2]])).columns]


def test_json_adds_in_force_and_projection_and_keeps_every_key():
    data = json.loads(as_json.render(month_report()))
    new, later, always = data["policies"]
    assert new["in_force"] == {"from": "2026-01-28T02:30:00.000000Z", "source": "first evidence record",
                               "coverage": new["in_force"]["coverage"]}
    assert 0.09 < new["in_force"]["coverage"] < 0.1 and always["in_force"]["coverage"] == 1.0
    assert later["in_force"]["coverage"] == 0.0 and later["rpo"]["attainment"] is None
    assert later["rpo"]["worst_exposure_s"] is None and later["rto"]["attainment"] is None
    assert set(new["rto"]) >= {"target_s", "attainment", "slots_counted", "slots_met", "rta_p50_s", "rta_p95_s",
                               "rta_max_s", "last_pass_at", "last_pass_age_s", "projected_full_rto_s",
                               "projected_exceeds_rto", "projection"}
    projection = new["rto"]["projection"]
    # 50 min fixed + 2 GB at 1 GB per 10 min
    assert new["rto"]["projected_full_rto_s"] == 3000 + 1200
    assert projection == {"method": "split", "drills": 1, "fixed_s": 3000.0, "bytes_per_s": 10**9 / 600,
                          "low_s": 4200.0, "high_s": 4200.0, "data_bytes": 2 * 10**9,
                          "smallest_drill_bytes": 10**9, "largest_drill_bytes": 10**9, "first_byte_measured": True,
                          "dump_bytes": 0, "database_load_s": 0.0, "basis": projection["basis"]}
    assert projection["basis"].startswith("1 drill of 1.0 GB, each split at the restore's first byte")
    assert set(later["rto"]["projection"].values()) == {None}  # same keys, null without a projection


def test_csv_has_the_coverage_and_projection_columns_for_every_policy():
    rows = list(csv.DictReader(io.StringIO(as_csv.render(month_report()))))
    new, later, always = rows
    assert {"in_force.from", "in_force.source", "in_force.coverage", "rto.projection.method",
            "rto.projection.low_s", "rto.projection.high_s", "rto.projection.basis"} <= set(new)
    assert 0.09 < float(new["in_force.coverage"]) < 0.1 and new["in_force.source"] == "first evidence record"
    assert later["in_force.coverage"] == "0.0" and later["rpo.attainment"] == "" and later["rto.projection.method"] == ""
    assert always["in_force.coverage"] == "1.0" and new["rto.projection.method"] == "split"


def test_csv_has_one_evidence_column_per_registered_job_kind_restore_and_plug_ins_included():
    from drkit.jobs.lifecycle import JOB_KINDS, register_job

    register_job("vault-export", None, lambda outcome: "exported")
    try:
        header = next(csv.reader(io.StringIO(as_csv.render(month_report()))))
    finally:
        JOB_KINDS.pop("vault-export")
    kinds = {c.removeprefix("evidence.by_kind.") for c in header if c.startswith("evidence.by_kind.")}
    assert {"backup", "drill", "check", "forget", "restore", "vault-export"} <= kinds


def policy_html(page: str, name: str) -> str:
    return page.split(f'id="policy-{name}"', 1)[1].split("</section>", 1)[0]


def test_html_greys_what_was_not_in_force_and_states_coverage_and_basis():
    page = html.render(month_report())
    summary = page.split('id="summary"', 1)[1].split("</section>", 1)[0]
    rows = {name: summary.split(f'href="#policy-{name}"', 1)[1].split("</tr>", 1)[0]
            for name in ("new", "later", "always")}
    assert '<td class="na">9.65%</td>' in rows["new"] and '<td class="">100.00%</td>' in rows["always"]
    assert 'class="bad"' not in rows["later"] and 'class="ok"' not in rows["later"]  # nothing judged
    # the new policy's RPO attainment is green (its verified RPO, with one drill, rightly is not)
    assert rows["new"].split("</td>", 5)[4].strip() == '<td class="ok">100.00%'
    new = policy_html(page, "new")
    assert re.search(r'<p class="in-force not-in-force">Objectives in force from\s*<strong>2026-01-28 02:30:00</strong> '
                     r'UTC \(first evidence record\):\s*9.65% of the period. The time before is shown grey', new)
    assert ">not in force<" in new.split('<figure class="exposure">', 1)[1]  # the chart's legend
    assert "Projection basis" in new and "1 drill of 1.0 GB" in new
    assert "not in force" not in policy_html(page, "always").split('<figure class="exposure">', 1)[1]


def test_status_json_and_prometheus_state_in_force_and_never_breach_before_it(tmp_path):
    history = History(tmp_path / "state")
    now = at(60)
    history.list()
    future = {"rpo": "25h", "rto": "4h", "in_force_from": "2026-03-05"}
    waiting = policy_status(history.catalog, history.state, make_policy(objectives=future), now)
    assert waiting.exposure_s == float("inf") and not waiting.in_force  # nothing restorable, but not yet due
    assert waiting.problems == [] and waiting.verdict == "OK"
    data = waiting.as_dict()
    assert data["in_force"] is False and data["in_force_from"] == "2026-03-05T00:00:00.000000Z"
    assert data["coverage_30d"] == 0.0 and data["rpo_attainment_30d"] is None
    history.backup(now - timedelta(days=3), now - timedelta(days=3, hours=-1))
    history.drill(now - timedelta(days=2), 1, "fail")  # a trial drill before the declared date
    declared = {"rpo": "25h", "rto": "4h", "in_force_from": "2026-03-01T12:00:00Z"}
    trial = policy_status(history.catalog, history.state, make_policy(objectives=declared), now)
    assert trial.in_force and trial.problems == ["RPO"]  # in force now: the 3-day-old data breaches
    assert not trial.rto_breached  # the failed drill predates the objectives
    text = prometheus([waiting, trial], now.timestamp())
    assert 'drkit_in_force{policy="db"} 0' in text and 'drkit_in_force{policy="db"} 1' in text
    assert 'drkit_in_force_ratio{policy="db",window="30d"} 0' in text
    assert re.search(r'drkit_rpo_attainment_ratio\{policy="db",window="30d"\} NaN', text)
    status_rows = table.status_table([waiting, trial])
    status = [str(c) for c in list(status_rows.columns)[-1].cells]
    assert status == ["not in force", "RPO"]


def test_csv_cells_of_objects_are_json_not_python_repr():
    """`rto.drills` holds one object per drill: a CSV reader must get JSON back (true, null, "…"),
    never Python's repr (True, None, '…')."""
    import json

    drill = {"result": "pass", "manifest_authenticated": True, "tier": None, "checks": [{"name": "it's ok"}]}
    cell = as_csv.flatten({"rto": {"drills": [drill, drill]}})["rto.drills"]
    first, second = cell.split(as_csv.LIST_SEPARATOR)
    assert json.loads(first) == drill == json.loads(second)


def test_status_table_keeps_the_policy_names_on_an_80_column_line():
    """A long problem list ("RTO, COPY LAG offsite") once squeezed the policy column to nothing when
    piped (80 columns): rows nobody could attribute. The problems wrap instead."""
    from rich.console import Console

    columns = ["policy", "exposure", "RPO", "last drill", "RTA", "RTO", "drill due", "status"]
    rows = [["shop-db", "15m 16s", "1d", "2026-12-07 error", "1.3s", "4h", "2026-12-17", "RTO, COPY LAG offsite"],
            ["web", "6m", "1d", "2026-12-07 fail", "1.3s", "4h", "2026-12-17", "RTO, DRILL OVERDUE, COPY LAG copy-2"]]
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table._table("", columns, rows))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    firsts = [line.split()[0] for line in text.splitlines() if line.strip() and not line.strip().startswith("─")]
    assert {"shop-db", "web"} <= set(firsts), text
    assert all(word in text.split() for word in ("OVERDUE,", "offsite", "copy-2", "error", "fail"))  # wrapped, not cut
