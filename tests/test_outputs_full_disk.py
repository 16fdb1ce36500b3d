"""A full disk under `generate --out`, `eval --json` and `train --out` (issue 27 item 21): one line, exit 2,
nothing partial left, and eval's results not lost (printed instead). `render`'s is in realtime/test_render_bounds."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import write_midi

from .eval.test_evaluate import piece
from .full_disk import full_disk, leftovers
from .tiny import STYLES, tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "ckpt"
    return save_checkpoint(path, Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))


def _last_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in result.output, result.output[-2000:]
    return last


def test_generate_out_on_a_full_disk(tmp_path, checkpoint):
    with full_disk(tmp_path / "disk") as disk:
        result = CliRunner().invoke(app, ["generate", "--out", str(disk / "g.mid"), "--seconds", "1",
                                          "--checkpoint", str(checkpoint), "--device", "cpu"])
        assert "No space left" in _last_line_error(result) and leftovers(disk) == []


def test_eval_json_on_a_full_disk_prints_the_results(tmp_path, checkpoint):
    data = tmp_path / "data"
    data.mkdir()
    write_midi(data / "a.mid", piece(6.0))
    with full_disk(tmp_path / "disk") as disk:
        result = CliRunner().invoke(app, ["eval", "--data", str(data), "--prompt-seconds", "3",
                                          "--continue-seconds", "2", "--seeds", "1", "--checkpoint", str(checkpoint),
                                          "--device", "cpu", "--json", str(disk / "e.json")])
        assert "No space left" in _last_line_error(result) and leftovers(disk) == []
    printed = next(line for line in result.output.splitlines() if line.startswith("{"))
    assert json.loads(printed)["n_pairs"] == 1


def test_train_out_on_a_full_disk(tmp_path):
    data = tmp_path / "data" / "Art Tatum" / "album"
    data.mkdir(parents=True)
    for k in range(3):
        write_midi(data / f"p{k}.mid", piece(20.0, offset=k))
    with full_disk(tmp_path / "disk") as disk:
        result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "data"), "--out", str(disk / "run"),
                                          "--cache", str(tmp_path / "cache"), "--config", "tiny", "--device", "cpu",
                                          "--max-steps", "2"])
        assert "No space left" in _last_line_error(result)
        partial = [p.name for p in (disk / "run").rglob("*") if p.name.endswith(".tmp")] if (disk / "run").exists() \
            else []
        assert partial == []
