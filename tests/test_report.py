"""`tbench report`: the page, its figures read back as images, the sections the data allows, and
one-line refusals that leave nothing behind."""

import shlex
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.test_report_helpers import (
    cli,
    depth_rows,
    heat_cells,
    image,
    is_green,
    is_red,
    read_page,
    real_runs,
    write,
)
from toroidal_bench.cli import app
from toroidal_bench.report import data

pytest.importorskip("matplotlib")

SECTIONS = ["niah", "scores", "positions", "compare", "seeds", "gates", "cost", "run"]


def report(*args) -> "object":
    return cli.invoke(app, ["report", *map(str, args)])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return real_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def built(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "site"
    r = report(*runs, "--out", out)
    assert r.exit_code == 0, r.output
    return out


def test_page_references_every_figure_and_only_local_files(built):
    page = read_page(built)
    assert page.sections == SECTIONS
    pngs = sorted(p.name for p in built.glob("*.png"))
    svgs = sorted(p.name for p in built.glob("*.svg"))
    assert sorted(page.images) == pngs and len(pngs) == len(svgs) == 5
    assert {p.removesuffix(".png") for p in pngs} == {s.removesuffix(".svg") for s in svgs}
    assert set(svgs) <= set(page.links)
    assert not page.scripts
    local = [href for href in page.links + page.images if not href.startswith("#")]
    assert all("://" not in href and (built / href).is_file() for href in local)
    assert not list(built.parent.glob(".site.*"))  # no staging directory left


def test_figures_read_back_as_drawn_images(built):
    for png in built.glob("*.png"):
        img = image(png)
        assert img.shape[0] >= 300 and img.shape[1] >= 400, (png.name, img.shape)
        assert img.std() > 0.05 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50, png.name
    for svg in built.glob("*.svg"):
        assert ET.parse(svg).getroot().tag.endswith("svg")
    names = {p.name for p in built.glob("*.png")}
    # random:llama-tiny is in both files, at different tasks: one line, named by its spec alone
    assert names == {"heatmap-passkey-random-llama-tiny.png", "heatmap-passkey-random-llama-tiny-alibi.png",
                     "score-passkey.png", "score-perplexity.png", "position-perplexity.png"}


def test_score_figure_draws_a_line_and_band_per_spec(tmp_path):
    good = {(1024, 0.0): [1, 1, 1, 0], (2048, 0.0): [1, 0, 1, 0], (4096, 0.0): [0, 1, 0, 0]}
    bad = {(1024, 0.0): [0, 0, 1, 0], (2048, 0.0): [0, 0, 0, 0], (4096, 0.0): [0, 0, 0, 0]}
    res = write(tmp_path / "two.parquet", depth_rows("random:llama-tiny", "passkey", good)
                + depth_rows("random:llama-tiny+alibi", "passkey", bad))
    assert report(res, "--out", tmp_path / "out").exit_code == 0
    ((_, name, curve),) = data.score_curves(data.load([res]))
    first = curve[curve["series"] == "random:llama-tiny"]
    assert name == "accuracy" and first["value"].tolist() == [0.75, 0.5, 0.25]
    assert (first["low"] < first["value"]).all() and (first["value"] < first["high"]).all()
    img = image(tmp_path / "out" / "score-passkey.png")
    blue, orange = np.array([31, 119, 180]) / 255, np.array([255, 127, 14]) / 255  # matplotlib's first two
    for colour in (blue, orange):
        assert (np.abs(img - colour).max(axis=-1) < 0.08).sum() > 200


def test_page_shows_compare_cost_and_run_metadata(built, runs):
    page = read_page(built)
    text = page.all_text
    assert "random:llama-tiny+alibi delta" in text and "accuracy ↑" in text and "perplexity ↓" in text
    assert "tokens/s" in text and "Not recorded in these results: peak memory." in text
    assert "No --suite given: gates not checked." in text
    meta = data.load(list(runs)).meta[str(runs[0])]
    assert meta["git_sha"] in text and shlex.join(meta["command"]) in text and meta["device"] in text


def test_heat_map_cells_show_the_data(tmp_path):
    # rows depth 0%, 50%; columns 1k, 2k: a checkerboard of right (1) and wrong (0) answers
    cells = {(1024, 0.0): [1, 1], (2048, 0.0): [0, 0], (1024, 0.5): [0, 0], (2048, 0.5): [1, 1]}
    res = write(tmp_path / "niah.parquet", depth_rows("random:llama-tiny", "passkey", cells))
    out = tmp_path / "out"
    assert report(res, "--out", out).exit_code == 0
    ((task, spec, name, grid),) = data.heatmaps(data.load([res]))
    assert grid.values.tolist() == [[1.0, 0.0], [0.0, 1.0]] and list(grid.index) == [0.0, 50.0]
    colours = heat_cells(image(out / "heatmap-passkey-random-llama-tiny.png"), 2, 2)
    assert is_green(colours[0, 0]) and is_red(colours[0, 1]) and is_red(colours[1, 0]) and is_green(colours[1, 1])
    page = read_page(out)
    assert "No task was run at two or more" not in page.all_text
    assert "No rows by token position" in page.all_text  # no positions: that section is only a note


def test_a_missing_cell_is_grey_and_a_single_length_gets_no_curve(tmp_path):
    cells = {(1024, 0.0): [1, 1], (1024, 0.5): [0, 1]}
    res = write(tmp_path / "one.parquet", depth_rows("random:llama-tiny", "niah", cells, "keyword_recall")
                + depth_rows("random:llama-tiny+alibi", "niah", {(1024, 0.0): [0, 0]}, "keyword_recall"))
    out = tmp_path / "out"
    assert report(res, "--out", out).exit_code == 0
    grids = {spec: grid for _, spec, _, grid in data.heatmaps(data.load([res]))}
    assert grids["random:llama-tiny"].values.tolist() == [[1.0], [0.5]]
    page = read_page(out)
    assert "No task was run at two or more context lengths" in page.all_text
    assert not list(out.glob("score-*")) and not list(out.glob("position-*"))
    alibi = heat_cells(image(out / "heatmap-niah-random-llama-tiny-alibi.png"), 1, 1)[0, 0]
    assert is_red(alibi)


def test_curves_aggregate_as_metrics_declare(runs):
    loaded = data.load(list(runs))
    ((task, name, curve),) = data.position_curves(loaded)
    assert (task, name) == ("perplexity", "nll_per_token")
    rows = loaded.ok[(loaded.ok["task"] == "perplexity") & loaded.ok["position"].notna()]
    first = curve.iloc[0]
    bucket = rows[(rows["context_length"] == first["context_length"]) & (rows["position"] == first["position"])]
    by = bucket.groupby("metric")["value"].sum()
    assert first["value"] == pytest.approx(by["nll"] / by["tokens"])
    scores = dict((t, (n, c)) for t, n, c in data.score_curves(loaded))
    name, ppl = scores["perplexity"]
    assert name == "perplexity" and (ppl["low"] <= ppl["value"]).all() and (ppl["value"] <= ppl["high"]).all()


def test_gates_with_a_suite(runs, tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels: [random:llama-tiny]\ntasks: [passkey]\nlengths: [256]\ngates:\n"
                     "  - {task: passkey, metric: accuracy, op: '>=', value: 0.0}\n"
                     "  - {task: passkey, metric: accuracy, op: '>=', value: 0.5}\n")
    out = tmp_path / "out"
    r = report(runs[0], "--out", out, "--suite", suite)
    assert r.exit_code == 0, r.output  # the report reports; `tbench gate` decides
    text = read_page(out).all_text
    assert "2 of 4 passed" in text and "PASS" in text and "FAIL" in text and "is not >= 0.5" in text


def test_baseline_is_the_reference(runs, tmp_path):
    rows = depth_rows("random:llama-tiny", "passkey", {(256, 0.0): [1, 1], (512, 0.0): [1, 1]})
    base = write(tmp_path / "base.parquet", rows)
    out = tmp_path / "out"
    assert report(runs[0], "--out", out, "--baseline", base).exit_code == 0
    text = read_page(out).all_text
    html = (out / "index.html").read_text()
    assert "The first model spec (<code>random:llama-tiny (base)</code>) is the reference" in html
    assert "random:llama-tiny (passkey) delta" in text and "random:llama-tiny (base) delta" not in text
    # the same spec at the same task and lengths in two files: a line (and heat map) per file
    assert {p.name for p in out.glob("heatmap-*.png")} == {
        "heatmap-passkey-random-llama-tiny-base.png", "heatmap-passkey-random-llama-tiny-passkey.png",
        "heatmap-passkey-random-llama-tiny-alibi.png"}


def test_a_second_report_replaces_the_first(runs, tmp_path):
    out = tmp_path / "out"
    assert report(*runs, "--out", out).exit_code == 0
    assert report(runs[1], "--out", out).exit_code == 0
    page = read_page(out)
    assert "niah" in page.sections and not any(i.startswith("heatmap") for i in page.images)
    assert not list(out.glob("heatmap-*")) and not list(out.glob("*passkey*"))  # the first report's figures


@pytest.mark.parametrize("case", ["missing", "corrupt", "out-is-file", "out-under-file"])
def test_bad_input_is_one_line_and_writes_nothing(case, runs, tmp_path):
    res, out = runs[0], tmp_path / "out"
    if case == "missing":
        res = tmp_path / "nope.parquet"
    elif case == "corrupt":
        res = tmp_path / "bad.parquet"
        res.write_bytes(b"PAR1 not really")
    elif case == "out-is-file":
        out.write_text("x")
    else:
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    r = report(res, "--out", out)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert not (out / "index.html").exists() and not list(tmp_path.glob(".out.*"))


def test_missing_matplotlib_names_the_extra(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    r = report(runs[0], "--out", tmp_path / "out")
    assert r.exit_code == 2 and "pip install 'toroidal-bench[plots]'" in r.output
    assert not (tmp_path / "out").exists()


def test_a_failure_while_drawing_leaves_no_page(runs, tmp_path, monkeypatch):
    from toroidal_bench.report import figures

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(figures, "nll_vs_position", broken)
    out = tmp_path / "out"
    r = report(*runs, "--out", out)
    assert r.exit_code != 0 and not out.exists() and not list(tmp_path.glob(".out.*"))


def test_report_does_not_load_matplotlib_for_help():
    import subprocess

    code = "import sys; from toroidal_bench.cli import app; print('matplotlib' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"
