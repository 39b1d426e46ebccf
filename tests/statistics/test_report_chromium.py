"""The HTML report rendered by a real browser (headless Chromium): it shows the headline
numbers and the charts. Skipped only when Chromium is not installed (scripts/setup-engines
installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.statistics.golden.dataset import golden_report
from tipdata.statistics.report import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]
#: the charts' main bar colour (report_charts.PALETTE[0]) as RGB
BAR_RGB = (0x0B, 0x53, 0x94)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed; run scripts/setup-engines (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chromium")
    write_report(golden_report(), out, formats=("html",))
    return out / "report.html"


def _chromium(page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = page.parent / "profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_report_html__renders_in_chromium(page: Path) -> None:
    """should give a screenshot that is not blank and shows the charts' bars."""
    shot = page.parent / "report.png"
    result = _chromium(page, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 20, "the screenshot is (nearly) one colour"
    not_white = (pixels < 240).any(axis=2).mean()
    assert not_white > 0.05
    bars = (np.abs(pixels - np.array(BAR_RGB)) <= 12).all(axis=2).sum()
    assert bars > 20_000, f"only {bars} pixels of bar colour: the charts did not render"


def test_report_html__dom_shows_headlines_and_charts(page: Path) -> None:
    """should hold, in the DOM Chromium built, the headline numbers and one SVG chart per figure."""
    result = _chromium(page, "--dump-dom")
    dom = result.stdout
    assert "<html" in dom, result.stderr[-2000:]
    report = golden_report()
    for headline in report.headlines:
        assert headline.label in dom
        assert headline.cell.text() in dom or headline.cell.text(1) in dom
    charts = dom.count('class="chart"')
    assert charts >= 6
    assert dom.count("<rect") + dom.count("<path") > 100  # bars and axes inside the charts
    assert 'role="img"' in dom and "<title" in dom


@pytest.fixture(scope="module")
def french_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chromium_fr")
    write_report(golden_report("fr"), out, formats=("html",))
    return out / "report.html"


def test_report_html__french_page_renders_in_chromium(french_page: Path) -> None:
    """should draw the French page's charts and show its headlines, French numbers and headings in the DOM."""
    shot = french_page.parent / "report.png"
    result = _chromium(french_page, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    bars = (np.abs(pixels - np.array(BAR_RGB)) <= 12).all(axis=2).sum()
    assert bars > 20_000, f"only {bars} pixels of bar colour: the charts did not render"
    dom = _chromium(french_page, "--dump-dom").stdout
    report = golden_report("fr")
    assert '<html lang="fr">' in dom
    for headline in report.headlines:
        assert headline.label.replace("'", "&#39;") in dom or headline.label in dom
        assert (
            headline.cell.text(0, report.words) in dom or headline.cell.text(1, report.words) in dom
        )
    assert "Comment les chiffres sont protégés" in dom and "Victimes identifiées par sexe" in dom
    assert dom.count('class="chart"') >= 6
