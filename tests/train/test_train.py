"""Training: a tiny run end to end, resume, the schedule, and DDP with two gloo processes on the CPU."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.model.checkpoint import load_checkpoint
from tatumflow.notes import Note, write_midi
from tatumflow.train.config import CONFIGS, TrainConfig, lr_at
from tatumflow.train.loop import train


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two 'pianists', three pieces each, plus a broken file."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for who in ("Art Tatum", "Somebody Else"):
        for k in range(3):
            t, notes = 0.0, []
            for _ in range(150):
                t += float(rng.choice([0.0, 0.1, 0.12, 0.2]))
                notes.append(Note(t, 0.25, int(rng.integers(40, 84)), int(rng.integers(40, 100))))
            folder = root / who / "album"
            folder.mkdir(parents=True, exist_ok=True)
            write_midi(folder / f"piece {k}.mid", notes)
    (root / "Art Tatum" / "album" / "broken.mid").write_bytes(b"MThd\x00\x00garbage")
    return root


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tiny_training_run_writes_a_loadable_checkpoint_and_resumes(corpus, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(corpus), "--out", str(run), "--config", "tiny", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--max-steps", "10"])
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(run / "checkpoint")
    assert ckpt.styles == ["none", "Art Tatum", "Somebody Else"]
    assert ckpt.meta["step"] == 10 and np.isfinite(ckpt.meta["val_loss"])
    first = metrics(run)
    assert [r["step"] for r in first] == list(range(1, 11))
    assert first[-1]["loss"] < first[0]["loss"]
    result = CliRunner().invoke(app, [*args, "--max-steps", "14"])  # resumes at step 10
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in metrics(run)][10:] == [11, 12, 13, 14]


def test_trains_from_a_token_cache_alone_and_stops_at_its_time_budget(corpus, tmp_path):
    """A GPU box gets the token cache without the MIDI; a lent machine's minutes end the run, not a step count."""
    cache, runner = tmp_path / "cache", CliRunner()
    r = runner.invoke(app, ["train", "--data", str(corpus), "--cache", str(cache), "--out", str(tmp_path / "a"),
                            "--config", "tiny", "--device", "cpu", "--max-steps", "2"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "b"
    r = runner.invoke(app, ["train", "--cache", str(cache), "--out", str(run), "--config", "tiny", "--device", "cpu",
                            "--max-minutes", "0.0001"])
    assert r.exit_code == 0, r.output
    rows = metrics(run)
    assert [x["step"] for x in rows] == [1] and np.isfinite(rows[0]["val_loss"])  # validated before it stopped
    assert json.loads((run / "last" / "train_state.json").read_text())["step"] == 1
    assert load_checkpoint(run / "checkpoint").styles == ["none", "Art Tatum", "Somebody Else"]
    r = runner.invoke(app, ["train", "--out", str(tmp_path / "c"), "--config", "tiny"])
    assert r.exit_code == 2 and "--cache with a built token cache" in r.output
    r = runner.invoke(app, ["train", "--cache", str(tmp_path / "empty"), "--out", str(tmp_path / "c"),
                            "--config", "tiny", "--device", "cpu"])
    assert r.exit_code == 2 and "no token cache" in r.output
    r = runner.invoke(app, ["train", "--cache", str(cache), "--out", str(tmp_path / "c"), "--max-minutes", "0"])
    assert r.exit_code == 2 and "--max-minutes must be > 0" in r.output


def test_focus_only_trains_on_one_pianist(corpus, tmp_path):
    seen = []
    cfg = replace(CONFIGS["tiny"], focus_only=True, style_dropout=0.0)
    train([corpus], tmp_path / "r", cfg, device="cpu", max_steps=2, on_step=seen.append)
    assert len(seen) == 2
    assert load_checkpoint(tmp_path / "r" / "checkpoint").meta["train_config"]["focus_only"] is True
    with pytest.raises(ValueError, match="no training pieces"):
        train([corpus], tmp_path / "r2", replace(cfg, focus_style="Nobody"), device="cpu", max_steps=2)


def test_bad_options_are_clear_errors(tmp_path, corpus):
    runner = CliRunner()
    r = runner.invoke(app, ["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "not found" in r.output
    r = runner.invoke(app, ["train", "--data", str(corpus), "--out", str(tmp_path / "x"), "--config", "huge"])
    assert r.exit_code == 2 and "valid: tiny" in r.output


def test_schedule_warms_up_then_decays():
    cfg = TrainConfig(lr=1e-3, warmup=10, max_steps=100, min_lr_ratio=0.1)
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3)
    assert lrs[99] == pytest.approx(1e-4, rel=0.05)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert set(CONFIGS) >= {"tiny", "cpu", "default", "gpu", "specialize", "focus-only"}


def test_ddp_with_two_gloo_processes(corpus, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29517"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
           "-m", "tatumflow.cli", "train", "--data", str(corpus), "--out", str(run), "--config", "tiny",
           "--max-steps", "6", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert load_checkpoint(run / "checkpoint").meta["step"] == 6
    assert [r["step"] for r in metrics(run)] == list(range(1, 7))  # rank 0 alone writes


def test_a_redirected_run_logs_plain_lines_a_minute_apart_and_at_each_validation():
    """Under nohup the progress bar would print nothing until the end: the log gets lines as the run goes."""
    import io

    from tatumflow.train.progress import log_lines, training_progress

    now = [0.0]
    out = io.StringIO()
    on_step = log_lines(100, out, every_s=60.0, clock=lambda: now[0])
    for step in range(1, 9):
        now[0] = 25.0 * step  # 25 s a step: lines at steps 1, 4 (100 s), the validation at 5 (125 s), 8 (200 s)
        record = {"step": step, "loss": 9.0 + step / 10, "notes_seen": 81_600_000 + 8184 * step}
        if step == 5:
            record.update(val_loss=9.25, val_loss_focus=9.05, notes_per_s=2375.0)
        on_step(record)
    lines = out.getvalue().splitlines()
    assert [line.split()[2] for line in lines] == ["1/100", "4/100", "5/100", "8/100"]
    assert lines[2].endswith("loss 9.500 | 81.64 M notes seen | val 9.250 (focus style 9.050) | 2375 notes/s")
    with training_progress(10, stream=out) as callback:  # a StringIO is no terminal: plain lines, no bar
        callback({"step": 1, "loss": 1.0})
    assert out.getvalue().splitlines()[-1].endswith("step 1/10 loss 1.000")


def test_self_feed_replaces_the_named_fields_from_a_cut_on_and_keeps_the_targets():
    torch = pytest.importorskip("torch")
    from tatumflow.model.tokenizer import DELTA, DURATION, PITCH, VELOCITY, TokenizerConfig
    from tatumflow.model.transformer import ModelConfig, NoteTransformer
    from tatumflow.train.loop import self_feed, step_loss

    config = TokenizerConfig()
    model = NoteTransformer(ModelConfig(vocab_sizes=config.vocab_sizes, d_model=32, n_layers=1, n_heads=2,
                                        context_steps=64))
    g = torch.Generator().manual_seed(0)
    B, T = 64, 40
    steps = torch.stack([torch.randint(0, n, (B, T), generator=g) for n in config.vocab_sizes], dim=-1)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[:, 30:] = False  # padding is never fed back
    style = torch.zeros(B, dtype=torch.long)
    before = steps.clone()
    inputs = self_feed(model, steps, style, mask, 0.5, [DELTA, VELOCITY, DURATION], g)
    assert inputs is not None and torch.equal(steps, before)  # the targets are left alone
    assert torch.equal(inputs[..., PITCH], steps[..., PITCH])  # a field not named stays real
    changed = (inputs != steps).any(dim=-1)  # [B, T]
    fed_rows = changed.any(dim=1)
    assert 16 < int(fed_rows.sum()) < 48  # about half the crops
    assert not changed[:, 30:].any()
    for row in changed[fed_rows]:  # from the first changed note on, most notes are the model's own
        first = int(row.nonzero()[0])
        assert row[first:30].float().mean() > 0.9
    assert self_feed(model, steps, style, mask, 0.0, [DURATION], g) is None
    with torch.no_grad():
        loss_fed, _ = step_loss(model, steps, style, mask, inputs)
        loss_real, _ = step_loss(model, steps, style, mask)
    assert torch.isfinite(loss_fed) and float(loss_fed) != float(loss_real)
    assert TrainConfig(self_feed_fields="velocity,duration").self_feed_heads == [VELOCITY, DURATION]
    with pytest.raises(ValueError, match="self_feed_fields"):
        TrainConfig(self_feed=0.5, self_feed_fields="delta,tempo")
    with pytest.raises(ValueError, match="self_feed must be"):
        TrainConfig(self_feed=1.5)


def test_a_self_fed_training_run_learns(corpus, tmp_path):
    seen = []
    cfg = replace(CONFIGS["tiny"], self_feed=0.5)
    train([corpus], tmp_path / "r", cfg, device="cpu", max_steps=10, on_step=seen.append)
    assert len(seen) == 10 and seen[-1]["loss"] < seen[0]["loss"]
    assert load_checkpoint(tmp_path / "r" / "checkpoint").meta["train_config"]["self_feed"] == 0.5
