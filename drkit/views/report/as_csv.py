"""The report as CSV: one row per policy, the JSON fields flattened with dotted names.

Lists become one cell (`start/end` pairs and caveats joined with ` | `; any other object, such as
a drill of `rto.drills`, as compact JSON) so a spreadsheet row holds the whole policy.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from drkit.views.report.as_json import report_dict
from drkit.views.report.formats import register_format

LIST_SEPARATOR = " | "


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        elif isinstance(value, list):
            flat[name] = LIST_SEPARATOR.join(_cell(v) for v in value)
        else:
            flat[name] = "" if value is None else value
    return flat


def _cell(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"start", "end"}:
        return f"{value['start']}/{value['end']}"
    if isinstance(value, (dict, list)):  # JSON a script can read back, not Python's repr (docs/reports.md)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def evidence_kinds() -> list[str]:
    """One `evidence.by_kind.*` column per registered job kind (drkit/jobs/lifecycle.py), whatever a
    period holds, so the columns do not depend on the data; a kind only found in old records (or
    one a plug-in no longer registers) still gets its column from the rows."""
    from drkit.jobs.lifecycle import job_kinds

    return job_kinds()


def rows(report) -> list[dict[str, Any]]:
    data = report_dict(report)
    registered = evidence_kinds()
    period = {"period.since": data["period"]["since"], "period.until": data["period"]["until"],
              "generated_at": data["generated_at"]}
    out = []
    for policy in data["policies"]:
        counts = policy["evidence"]["by_kind"]
        kinds = {f"evidence.by_kind.{k}": counts.get(k, 0) for k in registered + sorted(set(counts) - set(registered))}
        repositories = policy.pop("repositories", [])
        flat = {k: v for k, v in flatten(policy).items() if not k.startswith("evidence.by_kind.")}
        out.append(period | flat | kinds | _repository_columns(repositories))
    return out


def _repository_columns(repositories: list[dict[str, Any]]) -> dict[str, Any]:
    """Each copy repository's RPO figures as `repositories.NAME.…` columns (the first's are `rpo.…`)."""
    columns: dict[str, Any] = {}
    for repo in repositories:
        if repo["copy_of"] is None:
            continue
        figures = {key: repo["rpo"][key] for key in ("attainment", "worst_exposure_s", "current_exposure_s")}
        columns.update(flatten({"last_copy_at": repo["last_copy_at"], "rpo": figures}, f"repositories.{repo['name']}."))
    return columns


@register_format("csv")
def render(report) -> str:
    table = rows(report)
    header: list[str] = []
    for row in table:
        header += [k for k in row if k not in header]
    if not table:
        header = ["period.since", "period.until", "generated_at", "name"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()
