"""Progress on stderr: lines with counts, rate and ETA without a terminal; an ETA from the first
finished samples on one; lm-eval cells advance too."""

import io
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console
from rich.progress import Progress, TimeRemainingColumn
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.cli.progress import EtaColumn, RichReporter, clock_text, eta_seconds
from toroidal_bench.evaluate import Reporter, RunOptions, run_cells
from toroidal_bench.suites import expand

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _cell(spec="m+rope", task="passkey", length=512):
    return SimpleNamespace(model_spec=spec, task=SimpleNamespace(name=task), length=length)


def test_eta_is_elapsed_over_done_times_remaining():
    assert eta_seconds(10.0, 0, 5) is None
    assert eta_seconds(10.0, 2, 6) == 20.0
    assert eta_seconds(10.0, 7, 6) == 0.0
    assert clock_text(None) == "-:--:--" and clock_text(3725.4) == "1:02:05"


def test_lines_without_a_terminal_count_rate_and_eta_at_most_every_interval():
    buf, clock = io.StringIO(), Clock()
    rep = RichReporter(Console(file=buf, force_terminal=False, width=60), interval_s=10.0, clock=clock)
    rep.start(2, 10)
    rep.cell(_cell(), 5)
    clock.t += 5
    rep.advance(2)  # 5 s since the last line: quiet
    clock.t += 7
    rep.advance(1)  # 12 s: a line; 3 done in 12 s → 0.25/s, 7 left → 28 s
    clock.t += 3
    rep.advance(2)  # 3 s since that line: quiet
    rep.cell_done(_cell(), None)
    rep.cell(_cell(length=1024), 5)
    rep.cell_done(_cell(length=1024), "RuntimeError: boom")  # failed: made nothing of its 5
    rep.stop()
    lines = buf.getvalue().splitlines()
    assert lines == [
        "run: 2 cells, 10 samples planned",
        "cell 1/2 running m+rope · passkey @ 512 | samples 3/10, 0.25/s, elapsed 0:00:12, ETA 0:00:28",
        "cell 1/2 done m+rope · passkey @ 512 | samples 5/10, 0.333/s, elapsed 0:00:15, ETA 0:00:15",
        "cell 2/2 failed m+rope · passkey @ 1024 | samples 5/5, 0.333/s, elapsed 0:00:15, ETA 0:00:00",
        "  error: RuntimeError: boom",
    ]  # long lines are not wrapped at the console width


def test_a_cell_that_makes_more_samples_than_planned_raises_the_total():
    buf, clock = io.StringIO(), Clock()
    rep = RichReporter(Console(file=buf, force_terminal=False), interval_s=0.0, clock=clock)
    rep.start(2, 3)  # a wrapped harness planned at 1 sample, then a 2-sample cell
    rep.cell(_cell(task="lm-eval:x"), 1)
    clock.t += 1
    rep.advance(4)
    assert rep.total == 6
    rep.cell_done(_cell(task="lm-eval:x"), None)
    assert (rep.done, rep.total) == (4, 6)
    assert "samples 4/6" in buf.getvalue().splitlines()[-1]


def test_the_bar_shows_an_eta_from_the_first_finished_sample():
    clock = Clock()
    bar = Progress(EtaColumn(), TimeRemainingColumn(), get_time=clock, console=Console(file=io.StringIO()))
    task = bar.add_task("x", total=5)
    clock.t += 10
    bar.advance(task, 1)  # one update after 10 s: rich's own estimate has nothing to go on
    t = bar.tasks[0]
    assert str(bar.columns[0].render(t)) == "ETA 0:00:40"
    assert str(bar.columns[1].render(t)) == "-:--:--"


def test_on_a_terminal_the_reporter_draws_the_bar_with_that_eta():
    buf, clock = io.StringIO(), Clock()
    rep = RichReporter(Console(file=buf, force_terminal=True, width=150), clock=clock)
    rep.start(1, 4)
    rep.cell(_cell(), 4)
    clock.t += 30
    rep.advance(1)
    rep.stop()
    out = buf.getvalue()
    assert "1/4" in out and "ETA 0:01:30" in out and "m+rope · passkey @ 512" in out


def test_a_run_logged_to_a_file_prints_progress_lines_with_numbers(tmp_path):
    out = tmp_path / "r.parquet"
    r = CliRunner().invoke(app, ["run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-L", "320",
                                 "--limit", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "run: 2 cells, 4 samples planned" in r.output
    assert "cell 1/2 done random:llama-tiny · passkey @ 256 | samples 2/4, " in r.output
    assert "cell 2/2 done random:llama-tiny · passkey @ 320 | samples 4/4, " in r.output
    assert "/s, elapsed 0:00:" in r.output and "ETA 0:00:00" in r.output


class Recorder(Reporter):
    def __init__(self):
        self.events = []

    def advance(self, n):
        self.events.append(("advance", n))

    def cell_done(self, cell, error):
        self.events.append(("done", error))


def test_lm_eval_cells_advance_as_their_requests_finish(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the fixture task names its data file relative to the repository
    cells = expand(["random:llama-tiny"], ["lm-eval:tests/fixtures/lm_eval/tbench_mc.yaml"], [256])
    rec = Recorder()
    run_cells(cells, RunOptions(out=tmp_path / "x.parquet", max_batch_tokens=96), rec)
    advances = [n for kind, n in rec.events if kind == "advance"]
    assert rec.events[-1] == ("done", None)
    assert sum(advances) == 4  # the task's 4 documents
    assert len(advances) > 1  # in steps, as batches of requests finish, not all at the end


def test_lm_eval_documents_are_reported_in_proportion_to_finished_requests():
    from toroidal_bench.tasks.lm_eval_task import _DocProgress

    class FakeRunner:
        device = "cpu"

        def loglikelihood(self, requests, progress=None):
            for _ in requests:
                progress(1)
            return [0.0] * len(requests)

    seen, docs = [], [0]
    proxy = _DocProgress(FakeRunner(), seen.append)
    proxy.docs_seen = lambda: docs[0]
    docs[0] = 3  # the model has recorded 3 documents, 4 choices each
    proxy.loglikelihood(list(range(12)))
    assert seen == [1, 1, 1] and proxy.device == "cpu"
    proxy.finish(5)  # two documents lm-eval scored without a recorded request
    assert seen == [1, 1, 1, 2]
