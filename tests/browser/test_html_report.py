"""The HTML report in a real headless chromium: self-contained, no console errors, both charts drawn."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from report_builders import MONTH, PERIOD, T1, facts, new_policy, rto_facts

from drkit.views.report.html import render
from drkit.views.report.model import build_report

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (scripts/test installs it)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    report = build_report([rto_facts(), facts(name="never-backed-up", points=(), listed_at=None)], PERIOD, T1)
    path = tmp_path / "report.html"
    path.write_text(render(report))
    return path


def rgb_pixels(png: Path) -> list[tuple[int, int, int]]:
    raw = Image.open(png).convert("RGB").tobytes()
    return list(zip(raw[0::3], raw[1::3], raw[2::3]))


def console_problems(stderr: str) -> list[str]:
    """Console errors, uncaught exceptions, blocked or failed loads chromium logged."""
    patterns = ("Uncaught", "CONSOLE", "Content Security Policy", "Failed to load", "net::ERR")
    return [line for line in stderr.splitlines() if any(p in line for p in patterns)]


def test_report_renders_without_console_errors_and_with_both_charts_per_policy(tmp_path, report_file):
    proc = chromium(tmp_path, "--dump-dom", report_file.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert console_problems(proc.stderr) == []
    for name in ("db", "never-backed-up"):
        section = dom.split(f'id="policy-{name}"', 1)[1].split("</section>", 1)[0]
        assert re.search(r'<figure class="exposure">\s*<svg[^>]*aria-label="[^"]*exposure over time', section)
        assert re.search(r'<figure class="rta">\s*<svg[^>]*aria-label="[^"]*drill recovery times', section)
    assert "What this report does not show" in dom
    assert "http://" not in dom.replace("http://www.w3.org/", "").replace("http://purl.org/", "").replace(
        "http://creativecommons.org/", "").replace("http://s3.local/", "")


def test_screenshot_shows_coloured_charts(tmp_path, report_file):
    png = tmp_path / "report.png"
    proc = chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,2400", report_file.as_uri())
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
    pixels = rgb_pixels(png)
    non_white = sum(1 for p in pixels if min(p) < 242)
    # chart strokes: the exposure line's blue and the breach/RTO reds are drawn, not just text
    blue = sum(1 for r, g, b in pixels if abs(r - 0x15) < 20 and abs(g - 0x65) < 20 and abs(b - 0xC0) < 20)
    assert non_white > 100_000, non_white
    assert blue > 500, blue


def test_a_report_that_fetches_anything_is_caught(tmp_path, report_file):
    """The check above can fail: an external image is blocked by the CSP and logged."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(report_file.read_text().replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
    proc = chromium(tmp_path, "--dump-dom", leaky.as_uri())
    assert console_problems(proc.stderr), proc.stderr[-2000:]


GREY_BAND = (216, 216, 216)  # "not in force": #9e9e9e at 40 % over white
RED_BAND = (247, 223, 223)  # breach window: #c62828 at 15 % over white


def count_colour(pixels: list[tuple[int, int, int]], rgb: tuple[int, int, int], tolerance: int = 4) -> int:
    return sum(1 for p in pixels if all(abs(c - t) <= tolerance for c, t in zip(p, rgb)))


def screenshot(tmp_path: Path, facts_of_policy, name: str):
    page = tmp_path / f"{name}.html"
    page.write_text(render(build_report([facts_of_policy], MONTH, MONTH.until)))
    png = tmp_path / f"{name}.png"
    proc = chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,1600", page.as_uri())
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
    return rgb_pixels(png)


def test_time_before_the_objectives_took_effect_is_grey_not_red(tmp_path):
    """The reported defect: a policy new on day 27 was painted red for the month before it existed."""
    # (a few hundred pixels of either shade are anti-aliased text; a band is ~100,000 per chart)
    before = screenshot(tmp_path, new_policy(first_evidence_at=None), "in-force-throughout")
    assert count_colour(before, RED_BAND) > 50_000  # the 27 days shaded as breach: this test can fail
    assert count_colour(before, GREY_BAND) < 10_000
    after = screenshot(tmp_path, new_policy(), "new-policy")
    assert count_colour(after, RED_BAND) < 10_000
    assert count_colour(after, GREY_BAND) > 150_000  # both charts grey up to the first evidence


def test_rta_chart_reads_small_drills_against_a_large_rto_and_drills_list_their_checks(tmp_path, report_file):
    """A log axis with labelled durations: the 1 h drill and the 4 h RTO sit on distinct ticks;
    every drill is listed with its checks and share of the RTO."""
    proc = chromium(tmp_path, "--dump-dom", report_file.as_uri())
    section = proc.stdout.split('id="policy-db"', 1)[1].split("</section>", 1)[0]
    rta = section.split('<figure class="rta">', 1)[1].split("</figure>", 1)[0]
    ticks = re.findall(r'text-anchor="end"[^>]*>([^<]+)</text>', rta)
    assert "1h" in ticks and len(ticks) >= 3, ticks
    assert "recovery time (log)" in rta
    drills = section.split('<table class="drills">', 1)[1].split("</table>", 1)[0]
    assert "25.0%" in drills and "file_exists /srv/app/app.db: fail" in drills
