import numpy as np
import pytest
from helpers import rows, write

from toroidal_bench.compare import compare, paired_bootstrap_ci, pivot


def test_means_deltas_and_wins_against_a_hand_computation(tmp_path):
    a = write(tmp_path / "a.parquet", rows("m+rope", "passkey", 512, "accuracy", [1, 0, 0, 1]))
    b = write(tmp_path / "b.parquet", rows("m+alibi", "passkey", 512, "accuracy", [1, 1, 0, 0]))
    t = compare([a, b])
    ref, other = t.iloc[0], t.iloc[1]
    assert ref["column"] == "a" and ref["value"] == 0.5 and np.isnan(ref["delta"])
    assert other["value"] == 0.5 and other["delta"] == 0.0
    # per-sample differences b − a: 0, +1, 0, −1 → one win, one loss, four pairs
    assert (other["wins"], other["losses"], other["paired"]) == (1, 1, 4)
    assert other["ci_low"] <= 0.0 <= other["ci_high"]


def test_ci_collapses_when_every_pair_moves_the_same_and_is_ordered():
    assert paired_bootstrap_ci(np.array([0.5, 0.5, 0.5])) == (0.5, 0.5)
    lo, hi = paired_bootstrap_ci(np.array([0.0, 1.0, 1.0, 1.0, 0.0, 1.0]))
    assert 0.0 <= lo < np.mean([0, 1, 1, 1, 0, 1]) < hi <= 1.0
    assert paired_bootstrap_ci(np.array([1.0])) is None


def test_unpaired_samples_give_a_delta_but_no_ci(tmp_path):
    a = write(tmp_path / "a.parquet", rows("m", "t", 256, "acc", [0.0, 1.0], prefix="x"))
    b = write(tmp_path / "b.parquet", rows("m", "t", 256, "acc", [1.0, 1.0], prefix="y"))
    other = compare([a, b]).iloc[1]
    assert other["delta"] == pytest.approx(0.5) and other["paired"] == 0 and np.isnan(other["ci_low"])


def test_files_with_several_specs_compare_per_spec(tmp_path):
    both = rows("m+rope", "t", 256, "acc", [1, 1]) + rows("m+alibi", "t", 256, "acc", [0, 1])
    f = write(tmp_path / "run.parquet", both)
    t = compare([f])
    assert list(t["column"]) == ["run[m+rope]", "run[m+alibi]"]
    assert t.iloc[1]["delta"] == pytest.approx(-0.5) and t.iloc[1]["losses"] == 1


def test_lengths_and_metrics_are_separate_rows_and_failed_cells_show(tmp_path):
    a = write(tmp_path / "a.parquet", rows("m", "t", 256, "acc", [1.0]) + rows("m", "t", 512, "acc", [0.0]))
    b = write(tmp_path / "b.parquet", rows("m", "t", 256, "acc", [0.0]) + rows("m", "t", 512, "acc", [None], error="OOM"))
    t = compare([a, b])
    failed = t[(t["column"] == "b") & (t["context_length"] == 512)].iloc[0]
    assert failed["n"] == 0 and failed["n_error"] == 1
    w = pivot(t)
    assert list(w["context_length"]) == [256, 512]
    assert w["m (b) delta"].isna().tolist() == [False, True]  # b failed at 512: no value, no delta


def test_the_reference_is_the_first_file_even_without_the_first_tasks_rows(tmp_path):
    from rich.console import Console

    from toroidal_bench.cli.compare import _rich_table

    a = write(tmp_path / "a.parquet", rows("m+rope", "passkey", 512, "acc", [1.0, 0.0]))
    b = write(tmp_path / "b.parquet",
              rows("m+alibi", "niah", 512, "acc", [1.0]) + rows("m+alibi", "passkey", 512, "acc", [0.0, 0.0]))
    t = compare([a, b])
    assert t.iloc[0]["task"] == "niah" and t.iloc[0]["column"] == "b"  # the first row is not the reference's
    assert t.attrs["columns"] == ["a", "b"]
    assert t[(t.column == "b") & (t.task == "passkey")].iloc[0]["delta"] == pytest.approx(-0.5)
    assert list(pivot(t).columns) == ["task", "context_length", "metric", "m+rope", "m+alibi", "m+alibi delta",
                                      "m+alibi ci_low", "m+alibi ci_high"]
    console = Console(width=200, record=True)
    console.print(_rich_table(t))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "task" in line and "metric" in line)
    assert header.index(" m+rope ") < header.index(" m+alibi ")  # columns named by model spec
    assert "CI vs m+rope;" in text and "vs m+alibi" not in text
    assert "Δ -0.5" in text  # b's passkey cell is compared against a


def test_a_file_without_rows_is_a_results_error(tmp_path):
    from toroidal_bench.errors import ResultsError

    empty = write(tmp_path / "empty.parquet", [])
    with pytest.raises(ResultsError, match="holds no rows"):
        compare([empty])


def test_spec_order_picks_the_reference_column(tmp_path):
    from helpers import rows, write

    from toroidal_bench.compare import compare

    f = write(tmp_path / "r.parquet", rows("random:b", "passkey", 256, "accuracy", [1.0, 1.0])
              + rows("random:a", "passkey", 256, "accuracy", [0.0, 1.0], cell="d"))
    first_seen = compare([f])
    assert first_seen[first_seen.delta.isna()].model_spec.tolist() == ["random:b"]
    ordered = compare([f], spec_order=["random:a", "random:b"])
    assert ordered[ordered.delta.isna()].model_spec.tolist() == ["random:a"]
    assert ordered[ordered.model_spec == "random:b"].delta.tolist() == [0.5]
