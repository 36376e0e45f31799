"""Shared by the report tests (no tests of its own): results files from real tiny runs and from rows
written in the schema, and readers of the page and its figures."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app

FIXTURES = Path(__file__).resolve().parent / "fixtures/perplexity"
cli = CliRunner()


def run_tasks(out: Path, *args) -> Path:
    r = cli.invoke(app, ["run", "task", *map(str, args), "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


def real_runs(root: Path) -> tuple[Path, Path]:
    """passkey (needle depths) for two specs at two lengths, and perplexity (NLL by position) at two."""
    passkey = run_tasks(root / "passkey.parquet", "passkey", "-m", "random:llama-tiny", "-m",
                        "random:llama-tiny+alibi", "-L", 256, "-L", 512, "-n", 4)
    ppl = run_tasks(root / "ppl.parquet", "perplexity", "-m", "random:llama-tiny", "-L", 64, "-L", 128,
                    "--data-file", FIXTURES / "test")
    return passkey, ppl


def depth_rows(spec: str, task: str, cells: dict[tuple[int, float], list[float]], metric: str = "accuracy"):
    """Rows in the results schema: for each (length, depth) the samples' values."""
    out = []
    for (length, depth), values in cells.items():
        for i, v in enumerate(values):
            out.append({"run_id": "r", "cell_id": f"{spec}-{task}-{length}", "model_spec": spec, "spec_hash": "h",
                        "model": spec.split("+")[0], "encoding": "x", "task": task, "context_length": length,
                        "depth": depth, "sample_id": f"{length}-{depth}-{i}", "metric": metric, "value": v,
                        "prompt_tokens": length - 8, "latency_s": 0.01 * length / 1024})
    return out


def write(path: Path, rows, meta=None) -> Path:
    results.write_atomic(results.to_table(rows, meta or {"run_id": "r", "git_sha": "abc123",
                                                         "command": ["tbench", "run", "suite", "x"]}), path)
    return path


class Page(HTMLParser):
    """The page's section ids, image sources, links and text."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"])
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a":
            self.links.append(a["href"])
        elif tag in ("script", "link", "iframe"):
            self.scripts += 1

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def read_page(out: Path) -> Page:
    return Page((out / "index.html").read_text(encoding="utf-8"))


def image(path: Path) -> np.ndarray:
    """The PNG as an (H, W, 3) float array in [0, 1]."""
    import matplotlib.image

    return matplotlib.image.imread(path)[..., :3]


def heat_cells(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The median colour of each cell of the heat map in a figure: the map is the largest connected
    patch of saturated colour (the colour bar is a smaller one)."""
    from scipy import ndimage

    saturation = img.max(axis=-1) - img.min(axis=-1)
    labels, n = ndimage.label(ndimage.binary_closing(saturation > 0.25, iterations=3))
    sizes = ndimage.sum(np.ones_like(saturation), labels, range(1, n + 1))
    ys, xs = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = (bottom - top) / rows, (right - left) / cols
    out = np.zeros((rows, cols, 3))
    for i in range(rows):
        for j in range(cols):  # the cell's upper quarter: away from the value written at its centre
            patch = img[int(top + i * h + h * 0.1):int(top + i * h + h * 0.3), int(left + j * w + w * 0.2):
                        int(left + (j + 1) * w - w * 0.2)]
            out[i, j] = np.median(patch.reshape(-1, 3), axis=0)
    return out


def is_green(rgb) -> bool:
    return rgb[1] > rgb[0] + 0.2


def is_red(rgb) -> bool:
    return rgb[0] > rgb[1] + 0.3
