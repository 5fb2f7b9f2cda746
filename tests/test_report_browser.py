"""The report as a person sees it: opened in headless Chromium (Debian's ``chromium`` package).

One browser start renders the page three ways: the DOM after load (every section there,
every embedded image decoded, no script error), a screenshot and a printout (PDF).  The
screenshot and PDF are kept in ``test-artifacts/`` at the repository root (git-ignored).
Skipped only where Chromium is missing and ``CI`` is unset; CI installs it (.ci/run).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import TINY_SETTINGS
from PIL import Image, ImageStat

from latentdd import api
from latentdd.report import write_report
from latentdd.report.build import SECTION_IDS

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WIDTH, HEIGHT = 1280, 3000
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TINY = {**TINY_SETTINGS, "iterations": 3, "eval_models": ["mlp"], "eval_epochs": 1}  # one cheap architecture


def find_chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = find_chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium); CI always runs this test")
    return exe


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    runs = []
    for name, over in (
        ("pixel", {}),
        ("latent", {"space": "latent", "prior": "random", "eval_baseline": False}),
    ):
        run = api.distill(api.build_config({**TINY, **over, "out": str(root / name)}), progress=False)
        api.evaluate(run, progress=False)
        runs.append(run)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTDD_CACHE", str(root / "cache"))
        return write_report(runs, root / "report.html", progress=False).html


def test_report_renders_in_chromium(chromium, report_html, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot, pdf = ARTIFACTS / "report.png", ARTIFACTS / "report.pdf"
    for old in (shot, pdf):
        old.unlink(missing_ok=True)
    cmd = [
        chromium,
        *FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--no-pdf-header-footer",
        f"--screenshot={shot}",
        f"--print-to-pdf={pdf}",
        "--dump-dom",
        report_html.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout

    # rendered without errors: the page's own check saw no script error and every image decode,
    # and the browser logged no uncaught error or failed load
    html = report_html.read_text(encoding="utf-8")
    n_images = html.count("<img ")
    assert n_images >= 10 * 2 + 1  # ten classes x two runs, and the plots
    assert f'data-images="{n_images}/{n_images}"' in dom and 'data-errors="0"' in dom
    assert not re.search(r"Uncaught|net::ERR_|Failed to load resource", proc.stderr)

    # every section is shown, with its images embedded
    for sid in SECTION_IDS:
        assert f'<section id="{sid}">' in dom
    assert dom.count('<img src="data:image/png;base64,') == n_images

    # the screenshot is a real picture of the page, not a blank window
    with Image.open(shot) as im:
        assert im.size == (WIDTH, HEIGHT)
        stat = ImageStat.Stat(im.convert("L"))
        assert stat.stddev[0] > 20  # text, tables and images, not a uniform page
    # the printout is a PDF of several pages (print style sheet: nothing cut off a page)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", data)) >= 2
