"""The HTML report in a real headless chromium: self-contained, no console errors, both charts drawn."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from matplotlib import image
from report_builders import PERIOD, T1, facts, rto_facts

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
    pixels = image.imread(str(png))[..., :3]
    non_white = (pixels < 0.95).any(axis=-1).sum()
    # chart strokes: the exposure line's blue and the breach/RTO reds are drawn, not just text
    blue = ((abs(pixels[..., 0] - 0x15 / 255) < 0.08) & (abs(pixels[..., 1] - 0x65 / 255) < 0.08)
            & (abs(pixels[..., 2] - 0xC0 / 255) < 0.08)).sum()
    assert non_white > 100_000, non_white
    assert blue > 500, blue


def test_a_report_that_fetches_anything_is_caught(tmp_path, report_file):
    """The check above can fail: an external image is blocked by the CSP and logged."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text(report_file.read_text().replace("</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
    proc = chromium(tmp_path, "--dump-dom", leaky.as_uri())
    assert console_problems(proc.stderr), proc.stderr[-2000:]
