"""Charts for the HTML report as plain geometry, drawn into inline SVG by `templates/chart.svg.j2`
(docs/reports.md, "Formats").

Two charts per policy are simple enough (a sawtooth, a scatter, a few lines and bands) that
computing their coordinates here and writing the SVG through jinja2 costs about a millisecond,
where matplotlib took ~0.18 s a pair (100 policies: 21 s). Everything is a pure function of the
report model, so the same report renders to the same bytes. Text stays text (searchable,
copyable); colours come from the page's CSS classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from drkit.core.compliance import Period
from drkit.core.durations import format_duration
from drkit.evidence.records import utc_text
from drkit.views.report.model import PolicyReport, exposure_series

WIDTH, HEIGHT = 800, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 28  # margins around the plot area: tick labels, legend
MAX_TIME_TICKS = 8
PASSED = ("pass", "breach")  # drawn as dots; other results as crosses


@dataclass(frozen=True)
class Tick:
    pos: float  # x or y in SVG units
    label: str


@dataclass(frozen=True)
class Band:
    """A shaded time span over the whole plot height (breach window, time not in force)."""

    x: float
    width: float
    css: str
    title: str = ""


@dataclass(frozen=True)
class Rule:
    """A horizontal line across the plot (an objective, a projection), labelled at its right end."""

    y: float
    css: str
    label: str


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    css: str
    cross: bool
    title: str


@dataclass(frozen=True)
class LegendItem:
    css: str
    label: str
    shape: str  # line, dash, dot-line, dot, cross, band
    x: float = 0.0


@dataclass(frozen=True)
class Chart:
    """One chart's geometry; the template turns it into SVG."""

    css: str  # exposure, rta
    label: str  # aria-label: what the chart shows
    y_title: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    bands: list[Band] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # SVG polyline points "x,y x,y …"
    rules: list[Rule] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    legend: list[LegendItem] = field(default_factory=list)
    message: str | None = None  # centred in the plot when there is nothing to draw
    message_css: str = "bad"
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


# --- scales ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeScale:
    period: Period

    def x(self, moment: datetime) -> float:
        span = (self.period.until - self.period.since).total_seconds()
        share = (moment - self.period.since).total_seconds() / span
        return round(LEFT + min(max(share, 0.0), 1.0) * (WIDTH - LEFT - RIGHT), 1)


@dataclass(frozen=True)
class LinearScale:
    top_value: float

    def y(self, value: float) -> float:
        share = min(max(value / self.top_value, 0.0), 1.0)
        return round(HEIGHT - BOTTOM - share * (HEIGHT - BOTTOM - TOP), 1)


@dataclass(frozen=True)
class LogScale:
    """Seconds on a log axis: a 20 s drill and a 4 h RTO are both readable on one chart."""

    low: float
    high: float

    def y(self, seconds: float) -> float:
        value = min(max(seconds, self.low), self.high)
        share = (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return round(HEIGHT - BOTTOM - share * (HEIGHT - BOTTOM - TOP), 1)


# --- ticks ----------------------------------------------------------------------------------------

HOUR, DAY = 3600, 86400
TIME_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)
MONTH_STEPS = (1, 2, 3, 6, 12)
MONDAY_OFFSET = 4 * DAY  # 1970-01-01 was a Thursday: weekly ticks fall on Mondays


def time_ticks(period: Period) -> list[Tick]:
    """At most MAX_TIME_TICKS round UTC times (hours, days, Mondays, first of months) in the period."""
    scale = TimeScale(period)
    span = (period.until - period.since).total_seconds()
    for step in TIME_STEPS:
        if span / step <= MAX_TIME_TICKS:
            return [Tick(scale.x(t), _time_label(t, step)) for t in _uniform_times(period, step)]
    for months in MONTH_STEPS:
        times = _month_starts(period, months)
        if len(times) <= MAX_TIME_TICKS:
            return [Tick(scale.x(t), t.strftime("%b %Y")) for t in times]
    years = math.ceil(span / (365 * DAY) / MAX_TIME_TICKS)
    return [Tick(scale.x(t), t.strftime("%Y")) for t in _month_starts(period, 12 * years)]


def _uniform_times(period: Period, step: int) -> list[datetime]:
    offset = MONDAY_OFFSET if step % (7 * DAY) == 0 else 0
    start = period.since.timestamp()
    first = math.ceil((start - offset) / step) * step + offset
    times = []
    t = first
    while t < period.until.timestamp():
        times.append(datetime.fromtimestamp(t, timezone.utc))
        t += step
    return times


def _time_label(moment: datetime, step: int) -> str:
    if step % DAY == 0:
        return moment.strftime("%b %d")
    return moment.strftime("%H:%M") if moment.hour else moment.strftime("%b %d")


def _month_starts(period: Period, months: int) -> list[datetime]:
    since = period.since.astimezone(timezone.utc)
    index = since.year * 12 + since.month - 1
    if since != datetime(since.year, since.month, 1, tzinfo=timezone.utc):
        index += 1
    index = math.ceil(index / months) * months
    times = []
    while True:
        t = datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
        if t >= period.until:
            return times
        times.append(t)
        index += months


def nice_step(top: float, count: int = 5) -> float:
    """A 1, 2 or 5 × 10ⁿ step giving about `count` ticks from 0 to `top`."""
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def linear_ticks(top: float, scale: LinearScale) -> list[Tick]:
    step = nice_step(top)
    count = int(top / step + 1e-9)
    return [Tick(scale.y(i * step), f"{i * step:g}") for i in range(count + 1)]


# Round durations for a log axis: fine when the range is narrow, coarse (about a decade apart) when wide.
FINE_DURATIONS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR,
                  12 * HOUR, DAY, 2 * DAY, 7 * DAY)
COARSE_DURATIONS = (1, 10, 60, 600, HOUR, 6 * HOUR, DAY, 7 * DAY)
MAX_LOG_TICKS = 7


def log_ticks(scale: LogScale) -> list[Tick]:
    for candidates in (FINE_DURATIONS, COARSE_DURATIONS):
        inside = [s for s in candidates if scale.low <= s <= scale.high]
        if len(inside) <= MAX_LOG_TICKS:
            break
    return [Tick(scale.y(s), format_duration(s)) for s in inside]


# --- the charts -----------------------------------------------------------------------------------


def _not_in_force(policy: PolicyReport, period: Period, scale: TimeScale) -> list[Band]:
    """Grey over the time before the objectives took effect: neither breach nor attainment."""
    since = policy.in_force.since
    if since is None or since <= period.since:
        return []
    end = scale.x(min(since, period.until))
    return [Band(LEFT, round(end - LEFT, 1), "not-in-force", f"not in force before {utc_text(since)}")]


def _polylines(vertices: list[tuple[float, float | None]]) -> list[str]:
    """SVG polylines through the vertices, broken where the value is undefined."""
    lines: list[list[tuple[float, float]]] = [[]]
    for x, y in vertices:
        if y is None:
            if lines[-1]:
                lines.append([])
        else:
            lines[-1].append((x, y))
    return [" ".join(f"{x:g},{y:g}" for x, y in _thin(line)) for line in lines if line]


def _thin(line: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Within each half unit of x keep only the first, lowest, highest and last vertex: the drawn
    shape is the same, and a year of 15-minute backups stays a few kilobytes of SVG."""
    kept: list[tuple[float, float]] = []
    group: list[tuple[float, float]] = []
    for point in line:
        if group and abs(point[0] - group[0][0]) >= 0.5:
            kept += _extremes(group)
            group = []
        group.append(point)
    return kept + _extremes(group)


def _extremes(group: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(group) <= 4:
        return group
    ys = [y for _, y in group]
    keep = {0, len(group) - 1, ys.index(min(ys)), ys.index(max(ys))}
    return [group[i] for i in sorted(keep)]


LEGEND_CHAR_W, LEGEND_GAP = 6.2, 34  # approximate width of an 11px character; swatch + spacing


def _placed(items: list[LegendItem]) -> list[LegendItem]:
    """The legend in one row above the plot, where it cannot hide a drill or the line it names."""
    placed, x = [], float(LEFT)
    for item in items:
        placed.append(LegendItem(item.css, item.label, item.shape, round(x, 1)))
        x += LEGEND_GAP + len(item.label) * LEGEND_CHAR_W
    return placed


def exposure_chart(policy: PolicyReport, period: Period) -> Chart:
    """Exposure E(t) in hours over the period, the RPO as a line, breach windows shaded."""
    times = TimeScale(period)
    series = exposure_series(policy.points, period)
    rpo_h = policy.rpo.target_s / HOUR
    finite = [e / HOUR for _, e in series if e is not None]
    top_value = max(finite + [rpo_h]) * 1.15
    step = nice_step(top_value)
    values = LinearScale(math.ceil(top_value / step - 1e-9) * step)
    bands = [Band(times.x(w.start), round(times.x(w.end) - times.x(w.start), 1), "breach",
                  f"breach {utc_text(w.start)} to {utc_text(w.end)}") for w in policy.rpo.breach_windows]
    not_in_force = _not_in_force(policy, period, times)
    vertices = [(times.x(t), None if e is None else values.y(e / HOUR)) for t, e in series]
    rpo = f"RPO {format_duration(policy.rpo.target_s)}"
    legend = [LegendItem("exposure", "exposure", "line"), LegendItem("target", rpo, "dash")]
    legend += [LegendItem("breach", "breach", "band")] if bands else []
    legend += [LegendItem("not-in-force", "not in force", "band")] if not_in_force else []
    return Chart(
        css="exposure", label=f"{policy.name}: exposure over time against the RPO", y_title="exposure (h)",
        x_ticks=time_ticks(period), y_ticks=linear_ticks(values.top_value, values), bands=bands + not_in_force,
        paths=_polylines(vertices), rules=[Rule(values.y(rpo_h), "target", rpo)], legend=_placed(legend),
        message=None if finite else "no restorable recovery point in this period")


def rta_chart(policy: PolicyReport, period: Period) -> Chart:
    """Each drill's recovery time actual against the RTO and the projected full RTO, on a log axis
    with labelled durations: a 20-second drill against a 4-hour RTO would be a dot on the floor of
    a linear one. Each mark's tooltip gives the RTA as a share of the RTO."""
    times = TimeScale(period)
    rto_s = policy.rto.target_s
    projected = policy.rto.projected_full_rto_s
    seconds = [max(d.rta_s, 1.0) for d in policy.drills] + [rto_s] + ([projected] if projected else [])
    low, high = min(seconds) / 5, max(seconds) * 2  # room below the fastest drill: off the axis line
    if high / low < 100:  # at least two decades, so the axis reads as a log axis
        low = max(math.sqrt(low * high) / 10, 0.5)
        high = low * 100
    values = LogScale(max(low, 0.5), high)
    marks = [Mark(times.x(d.started_at), values.y(max(d.rta_s, values.low)), f"drill-{d.result}",
                  d.result not in PASSED,
                  f"drill {d.result} {utc_text(d.started_at)[:16]}Z: RTA {format_duration(d.rta_s)} "
                  f"({d.rta_s / rto_s:.1%} of the RTO), snapshot {d.snapshot_id[:8]}")
             for d in sorted(policy.drills, key=lambda d: d.started_at)]
    rto = f"RTO {format_duration(rto_s)}"
    rules = [Rule(values.y(rto_s), "target", rto)]
    legend = [LegendItem(f"drill-{r}", f"drill {r}", "cross" if r not in PASSED else "dot")
              for r in ("pass", "breach", "fail", "error", "interrupted") if any(d.result == r for d in policy.drills)]
    legend.append(LegendItem("target", rto, "dash"))
    if projected is not None:
        label = f"projected full RTO {format_duration(projected)}"
        rules.append(Rule(values.y(projected), "projection", label))
        legend.append(LegendItem("projection", label, "dot-line"))
    not_in_force = _not_in_force(policy, period, times)
    legend += [LegendItem("not-in-force", "not in force", "band")] if not_in_force else []
    return Chart(
        css="rta", label=f"{policy.name}: drill recovery times against the RTO", y_title="recovery time (log)",
        x_ticks=time_ticks(period), y_ticks=log_ticks(values), bands=not_in_force, rules=rules, marks=marks,
        legend=_placed(legend), message=None if policy.drills else "no drill in this period",
        message_css="bad" if policy.in_force.any else "na")
