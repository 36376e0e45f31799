"""The report page in a real headless browser (Debian's chromium): it renders, its figures show, and
the browser logs no console message."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from tests.test_report_helpers import cli, depth_rows, image, read_page, write
from toroidal_bench.cli import app

pytest.importorskip("matplotlib")

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "chrome")
                 if shutil.which(n)), None)


def screenshot(page, png, width=1280, height=1600) -> str:
    """Render `page` to `png`; the browser's log (stderr), where console messages appear as CONSOLE."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={png.parent / 'chromium-profile'}", f"--window-size={width},{height}",
            f"--screenshot={png}", "--enable-logging=stderr", "--v=0", page.resolve().as_uri()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C.UTF-8"})
    assert r.returncode == 0 and png.is_file(), r.stderr[-2000:]
    return r.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install -y chromium)")
def test_page_renders_in_chromium_with_its_figures_and_no_console_messages(tmp_path):
    cells = {(1024, 0.0): [1, 1], (2048, 0.0): [1, 0], (4096, 0.0): [0, 0],
             (1024, 0.5): [1, 1], (2048, 0.5): [0, 0], (4096, 0.5): [0, 0]}
    res = write(tmp_path / "niah.parquet", depth_rows("random:llama-tiny", "passkey", cells))
    out = tmp_path / "site"
    r = cli.invoke(app, ["report", str(res), "--out", str(out)])
    assert r.exit_code == 0, r.output
    log = screenshot(out / "index.html", tmp_path / "shot.png")
    assert not [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line], log
    shot = image(tmp_path / "shot.png")
    assert shot.shape[:2] == (1600, 1280) and shot.std() > 0.05
    # the heat map's colours can only come from its PNG: nothing else on the page is green or red at large
    green = (shot[..., 1] > shot[..., 0] + 0.25) & (shot[..., 1] > shot[..., 2] + 0.1)
    red = (shot[..., 0] > shot[..., 1] + 0.4) & (shot[..., 0] > shot[..., 2] + 0.3)
    assert green.sum() > 3000 and red.sum() > 3000, (green.sum(), red.sum())
    # and the same page without its figure files shows neither: the colour above is the figure's
    for png in out.glob("*.png"):
        png.unlink()
    screenshot(out / "index.html", tmp_path / "bare.png")
    bare = image(tmp_path / "bare.png")
    assert ((bare[..., 1] > bare[..., 0] + 0.25) & (bare[..., 1] > bare[..., 2] + 0.1)).sum() < 300
    assert read_page(out).images  # the page still refers to them


def test_console_messages_are_caught(tmp_path):
    """The log check above sees a console message when a page logs one."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH (apt-get install -y chromium)")
    page = tmp_path / "p.html"
    page.write_text("<!DOCTYPE html><html><body><script>console.error('broken')</script></body></html>")
    log = screenshot(page, tmp_path / "p.png", 200, 200)
    assert any(":CONSOLE" in line and "broken" in line for line in log.splitlines())
    assert np.asarray(image(tmp_path / "p.png")).size
