"""`tatumflow bench` on a tiny checkpoint: fast, no timing assertions; the JSON holds the fields it promises."""

import json
import os

import pytest
import torch
from typer.testing import CliRunner

from tatumflow.bench import decode, peers, quota
from tatumflow.bench.common import bench_model
from tatumflow.bench.legacy import BEFORE_COMMIT
from tatumflow.bench.report import markdown, write_results
from tatumflow.bench.run import BenchConfig, run_bench, summary
from tatumflow.cli import app
from tatumflow.generate.controls import Controls
from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.model.transformer import ModelConfig, NoteTransformer

REQUIRED = ("notes_per_second", "window_ms_p99", "reply_ms_p99", "send_jitter_ms_p99", "ratio_vs_no_cache",
            "ratio_vs_notochord")
ENV = ("git_commit", "cpu", "torch", "threads", "device")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    cfg = ModelConfig(n_styles=2, d_model=32, n_layers=2, n_heads=2, context_steps=512)
    path = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(path, Checkpoint(NoteTransformer(cfg), Tokenizer(), ["none", "Art Tatum"]))
    return str(path)


@pytest.fixture(scope="module")
def result(tiny_ckpt):
    parts = ("prefill", "decode", "windows", "reply", "guidance", "quality", "jitter")
    threads = torch.get_num_threads()
    try:
        return run_bench(BenchConfig(checkpoint=tiny_ckpt, quick=True, parts=parts))
    finally:
        torch.set_num_threads(threads)


def test_result_has_the_promised_fields(result):
    assert all(k in result["summary"] for k in REQUIRED)
    assert all(k in result["environment"] for k in ENV) and result["environment"]["threads"] == 1
    s = result["summary"]
    for key in ("notes_per_second", "window_ms_p99", "reply_ms_p99", "send_jitter_ms_p99", "ratio_vs_no_cache"):
        assert s[key] is not None and s[key] >= 0, key
    dec = result["decode"]
    for name in ("ours", "before", "no_cache"):
        assert dec[name]["notes"] > 0 and dec[name]["ms_per_note_p99"] >= dec[name]["ms_per_note_p50"] > 0
    assert set(result["prefill"]) == {"256", "1024"} and result["prefill"]["1024"]["notes"] == 511
    assert result["windows"]["guidance_off"]["notes_per_window_mean"] > 0


def test_the_before_lane_is_the_decode_step_it_replaced(result):
    """`before` is the step of commit `BEFORE_COMMIT`, from git (skipped with the reason where there is none)."""
    dec, windows = result["decode"], result["windows"]
    if "skipped" in dec["before"]:
        pytest.skip(dec["before"]["skipped"])
    assert dec["before"]["commit"] == BEFORE_COMMIT and dec["before"]["notes"] > 0
    assert windows["before"]["step_path"] == "dynamic" and windows["before"]["notes_per_window_mean"] > 0
    assert result["summary"]["ratio_vs_before"] > 0 and result["summary"]["window_ms_p99_before"] > 0
    assert dec["ours_torch"]["notes"] > 0


def test_a_duet_under_a_cpu_quota(tiny_ckpt):
    if os.geteuid() != 0:
        pytest.skip("the CPU quota needs root")
    out = quota.quota_lanes(tiny_ckpt, seconds=3.0, slowdown=3.0)
    if "skipped" in out:
        pytest.skip(out["skipped"])
    for lane in quota.LANES:  # the jam's way (its own process), inside the engine's process, the replaced step
        assert out[lane]["windows"] > 0 and out[lane]["stuck_notes"] == 0, out[lane]
    assert not any(p.name.startswith(f"tatumflow-bench-{os.getpid()}") for p in quota.V1_ROOT.glob("*"))
    assert "Duet of 3 s under a CPU quota" in markdown({**_EMPTY, "quota": out, "summary": summary({"quota": out})})


_EMPTY = {"environment": {"device": "cpu", "gpu": None, "cpu": "x", "threads": 1, "git_commit": "c", "torch": "t",
                          "load_average": None},
          "model": {"source": "s", "parameters": 1e6, "n_layers": 1, "d_model": 8}}


def test_notochord_missing_is_skipped_with_a_reason(tiny_ckpt, tmp_path, monkeypatch):
    reason = peers.load_notochord(tmp_path / "nowhere")
    assert isinstance(reason, str) and "install_notochord" in reason
    monkeypatch.setattr(decode, "load_notochord", lambda: peers.load_notochord(tmp_path / "nowhere"))
    bm = bench_model(tiny_ckpt, "cpu")
    out = decode.side_by_side(bm, torch.device("cpu"), Controls(style={bm.style: 1.0}), rounds=1, notes_per_round=2,
                              prompt_notes=16, notochord=True)
    assert "notochord" not in out and out["notochord_skipped"] == reason
    assert summary({"decode": out})["ratio_vs_notochord"] is None
    assert out["ours"]["notes"] > 0  # the other decoders still ran


def test_outputs_are_written(result, tmp_path):
    paths = write_results(result, tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png")
    assert [p.name for p in paths] == ["r.json", "r.md", "r.png"]
    assert json.loads((tmp_path / "r.json").read_text())["summary"] == json.loads(json.dumps(result["summary"]))
    assert "ratio_vs_notochord" not in markdown(result) and "Notochord" in markdown(result)
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_cli_bench(tiny_ckpt, tmp_path):
    threads = torch.get_num_threads()
    out = tmp_path / "b.json"
    res = CliRunner().invoke(app, ["bench", "--checkpoint", tiny_ckpt, "--quick", "--only", "prefill", "--only",
                                   "reply", "--no-notochord", "--json", str(out)])
    torch.set_num_threads(threads)
    assert res.exit_code == 0, res.output
    saved = json.loads(out.read_text())
    assert all(k in saved["summary"] for k in REQUIRED) and saved["summary"]["reply_ms_p99"] is not None


def test_cli_rejects_bad_options(tiny_ckpt):
    res = CliRunner().invoke(app, ["bench", "--checkpoint", tiny_ckpt, "--only", "nonsense"])
    assert res.exit_code == 2 and "unknown bench parts" in res.output
    res = CliRunner().invoke(app, ["bench", "--threads", "0"])
    assert res.exit_code == 2 and "threads" in res.output


def test_a_model_with_too_short_a_context_is_a_clear_error(tmp_path):
    cfg = ModelConfig(n_styles=2, d_model=32, n_layers=2, n_heads=2, context_steps=128)  # the `tiny` training config's
    save_checkpoint(tmp_path, Checkpoint(NoteTransformer(cfg), Tokenizer(), ["none", "Art Tatum"]))
    r = CliRunner().invoke(app, ["bench", "--checkpoint", str(tmp_path), "--quick", "--only", "decode"])
    assert r.exit_code == 2 and "context of >= 512 notes" in r.output and "is 128" in r.output
