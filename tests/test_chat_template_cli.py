"""--chat-template end to end: a local model whose tokenizer has a chat template, real-data tasks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import save_random_model
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app

cli = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = ("{% for m in messages %}[USER] {{ m['content'] }} [/USER]{% endfor %}"
            "{% if add_generation_prompt %} [BOT]{% endif %}")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    return save_random_model(tmp_path_factory.mktemp("chat-model"), "random:llama-tiny(seed=3)", TEMPLATE)


def test_chat_template_wraps_real_data_prompts_and_is_recorded(chat_model, tmp_path):
    out = tmp_path / "chat.parquet"
    tasks = ["longbench.narrativeqa", "longbench.trec", "longbook_qa_eng"]
    r = cli.invoke(app, ["run", "task", *tasks, "-m", f"local:{chat_model}", "-L", "512", "-n", "1",
                         "-p", "max_new_tokens=8", "--data-dir", str(FIXTURES), "--chat-template", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = results.read(out)
    assert rows["error"].isna().all() and (rows.prompt_tokens + 8 <= 512).all()
    applied = {t: json.loads(m)["chat_template"] for t, m in zip(rows.task, rows.meta, strict=True)}
    # LongBench never wraps its few-shot tasks (pred.py); the others are one user turn
    assert applied == {"longbench.narrativeqa": True, "longbench.trec": False, "longbook_qa_eng": True}
    import pandas as pd

    prompts = pd.read_parquet(results.prompts_path(out))
    text = dict(zip(prompts.iloc[:, 0], prompts.iloc[:, 1], strict=True))
    for task, digest in zip(rows.task, rows.prompt_hash, strict=True):
        framed = text[digest].startswith("[USER] ") and text[digest].endswith(" [/USER] [BOT]")
        assert framed == applied[task], task
