"""Charts for the HTML report, drawn by matplotlib's SVG backend and inlined (docs/reports.md).

No pyplot: a bare `Figure` keeps no global state, so charts can be drawn in any thread. Text
stays text in the SVG (`svg.fonttype: none`) so an auditor can search and copy it, and ids
and metadata are fixed so the same report renders to the same bytes.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib
from matplotlib import dates as mdates
from matplotlib.figure import Figure

from drkit.core.compliance import Period
from drkit.core.durations import format_duration
from drkit.views.report.model import PolicyReport, exposure_series

STYLE = {"svg.fonttype": "none", "svg.hashsalt": "drkit", "font.size": 9, "axes.spines.top": False,
         "axes.spines.right": False}
COLOURS = {"pass": "#2e7d32", "breach": "#ef6c00", "fail": "#c62828", "error": "#c62828",
           "interrupted": "#757575", "exposure": "#1565c0", "target": "#c62828", "projection": "#6a1b9a",
           "not_in_force": "#9e9e9e"}
_HEADER = re.compile(r"^.*?(?=<svg)", re.S)


def _svg(fig: Figure, label: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _HEADER.sub("", buffer.getvalue(), count=1)  # drop the XML declaration and DOCTYPE
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" class="chart" ', 1)


def _figure() -> tuple[Figure, object]:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(8, 2.6), layout="constrained")
        ax = fig.add_subplot()
    return fig, ax


def _time_axis(ax, period: Period) -> None:
    ax.set_xlim(period.since, period.until)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _not_in_force(ax, policy: PolicyReport, period: Period) -> None:
    """Grey over the time before the objectives took effect: neither breach nor attainment."""
    since = policy.in_force.since
    if since is None or since <= period.since:
        return
    ax.axvspan(period.since, min(since, period.until), color=COLOURS["not_in_force"], alpha=0.4, linewidth=0,
               zorder=2.5, label="not in force")


def _legend(ax) -> None:
    """Above the plot, where it cannot hide a drill or the line it names."""
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncols=4, frameon=False, borderaxespad=0.2)


def exposure_chart(policy: PolicyReport, period: Period) -> str:
    """Exposure E(t) in hours over the period, the RPO as a line, breach windows shaded."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure()
        series = exposure_series(policy.points, period)
        xs = [t for t, _ in series]
        ys = [math.nan if e is None else e / 3600 for _, e in series]
        rpo_h = policy.rpo.target_s / 3600
        for window in policy.rpo.breach_windows:
            ax.axvspan(window.start, window.end, color=COLOURS["target"], alpha=0.15, linewidth=0)
        ax.plot(xs, ys, color=COLOURS["exposure"], linewidth=1.4, label="exposure")
        ax.axhline(rpo_h, color=COLOURS["target"], linestyle="--", linewidth=1, label=f"RPO {format_duration(policy.rpo.target_s)}")
        _not_in_force(ax, policy, period)
        finite = [y for y in ys if not math.isnan(y)]
        ax.set_ylim(0, max(finite + [rpo_h]) * 1.15)
        if not finite:
            ax.text(0.5, 0.5, "no restorable recovery point in this period", transform=ax.transAxes,
                    ha="center", va="center", color=COLOURS["target"])
        ax.set_ylabel("exposure (h)")
        _time_axis(ax, period)
        _legend(ax)
        return _svg(fig, f"{policy.name}: exposure over time against the RPO")


def rta_chart(policy: PolicyReport, period: Period) -> str:
    """Each drill's recovery time actual against the RTO (and the projected full-size RTO)."""
    with matplotlib.rc_context(STYLE):
        fig, ax = _figure()
        rto_h = policy.rto.target_s / 3600
        tops = [rto_h]
        for result in ("pass", "breach", "fail", "error", "interrupted"):
            drills = [d for d in policy.drills if d.result == result]
            if drills:
                ax.scatter([d.started_at for d in drills], [d.rta_s / 3600 for d in drills],
                           color=COLOURS[result], marker="o" if result in ("pass", "breach") else "x",
                           s=28, label=f"drill {result}", zorder=3)
                tops += [d.rta_s / 3600 for d in drills]
        ax.axhline(rto_h, color=COLOURS["target"], linestyle="--", linewidth=1, label=f"RTO {format_duration(policy.rto.target_s)}")
        projected = policy.rto.projected_full_rto_s
        if projected is not None:
            ax.axhline(projected / 3600, color=COLOURS["projection"], linestyle=":", linewidth=1.2,
                       label=f"projected full RTO {format_duration(projected)}")
            tops.append(projected / 3600)
        _not_in_force(ax, policy, period)
        if not policy.drills:
            ax.text(0.5, 0.5, "no drill in this period", transform=ax.transAxes, ha="center", va="center",
                    color=COLOURS["target"] if policy.in_force.any else COLOURS["not_in_force"])
        ax.set_ylim(0, max(tops) * 1.2)
        ax.set_ylabel("recovery time (h)")
        _time_axis(ax, period)
        _legend(ax)
        return _svg(fig, f"{policy.name}: drill recovery times against the RTO")
