import json

import pytest
import torch
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.eval.evaluate import EvalConfig, split_prompt
from tatumflow.eval.texture import TEXTURE_KEYS, VOICING_KEYS
from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note, write_midi
from tatumflow.presets import controls_from

from ..tiny import STYLES, tiny_model

torch.set_num_threads(1)


def piece(seconds: float, offset: int = 0) -> list[Note]:
    notes = []
    for i in range(int(seconds * 4)):
        t = i * 0.25
        notes.append(Note(t, 0.2, 60 + offset + (i * 5) % 12, 70))
        if i % 4 == 0:
            notes += [Note(t, 0.9, p + offset, 55) for p in (48, 55)]
    return notes


@pytest.fixture
def tiny_checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "ckpt", Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))


def test_split_prompt():
    prompt, real, c0 = split_prompt(piece(6.0), 3.0, 2.0, 0.01)
    assert max(n.onset_s for n in prompt) < 3.0 and c0 == pytest.approx(2.76)
    assert real and all(c0 <= n.onset_s < c0 + 2.0 for n in real)
    assert split_prompt(piece(1.0), 3.0, 2.0, 0.01) is None
    with pytest.raises(ValueError, match="seeds"):
        EvalConfig(seeds=0)


def test_eval_command_end_to_end(tmp_path, tiny_checkpoint):
    data = tmp_path / "data" / "sub"
    data.mkdir(parents=True)
    write_midi(data / "a.mid", piece(6.0))
    write_midi(data / "b.midi", piece(6.0, offset=3))
    write_midi(data / "short.mid", piece(1.0))
    (data / "broken.mid").write_bytes(b"not midi")
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    result = CliRunner().invoke(app, [
        "eval", "--data", str(tmp_path / "data"), "--prompt-seconds", "3", "--continue-seconds", "2",
        "--seeds", "2", "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
        "--json", str(out_json), "--plot", str(out_png),
    ], env={"COLUMNS": "200"})  # the table's six columns, unwrapped
    assert result.exit_code == 0, result.output
    for label in ("pitch-class KL", "voicing width", "tempo regularity", "real-vs-generated AUC",
                  "chord intervals: octaves", "register spread"):
        assert label in result.output
    report = json.loads(out_json.read_text())
    assert report["preset"] == "tatum" and report["n_files"] == 2
    assert report["skipped"] == {"unreadable": 1, "too_short": 1}
    assert report["n_pairs"] == 2  # the opening of each file
    # the tatum preset's (on): the network alone is reported beside it
    assert report["harmony_weight"] == controls_from("tatum").harmony_weight > 0
    for system in ("model", "markov", "no_style", "no_harmony", "prompt_replay"):
        for key in ("pitch_class_kl", "pctm_cosine", "density_ratio", "voicing_ratio", "grammar_errors", "diversity",
                    *TEXTURE_KEYS, *VOICING_KEYS, "discriminator_auc"):
            assert key in report[system]
    assert set(TEXTURE_KEYS) | set(VOICING_KEYS) <= set(report["real"]) and "discriminator_auc" not in report["real"]
    assert report["real"]["notes_per_onset"] == pytest.approx(1.5)  # the piece: a 3-note chord every 4th note
    # the tiny random network may re-strike a sounding pitch (counted as self_overlap); the baseline never errs
    assert report["markov"]["grammar_errors"] == 0 and "grammar_self_overlap" in report["model"]
    assert len(report["files"]) == 2 and "model" in report["files"][0]
    assert out_png.stat().st_size > 1000


def test_eval_command_user_errors(tmp_path, tiny_checkpoint):
    runner = CliRunner()
    missing = runner.invoke(app, ["eval", "--data", str(tmp_path / "nope"), "--checkpoint", str(tiny_checkpoint)])
    assert missing.exit_code == 2 and "not found" in missing.output
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(app, ["eval", "--data", str(tmp_path / "empty"), "--checkpoint", str(tiny_checkpoint)])
    assert empty.exit_code == 2 and "no MIDI files" in empty.output


def test_eval_without_the_harmony_prior_has_three_systems(tmp_path, tiny_checkpoint):
    write_midi(tmp_path / "a.mid", piece(6.0))
    out_json = tmp_path / "eval.json"
    result = CliRunner().invoke(app, [
        "eval", "--data", str(tmp_path), "--prompt-seconds", "3", "--continue-seconds", "2", "--seeds", "1",
        "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--harmony", "0", "--json", str(out_json),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    assert report["harmony_weight"] == 0 and "no_harmony" not in report and "no_style" in report


def test_prompts_every_through_both_transcriptions_with_a_discriminator(tmp_path, tiny_checkpoint):
    for transcription, jitter in (("kong", 0.0), ("hawthorne", 0.004)):
        album = tmp_path / "data" / transcription / "studio" / "A Pianist" / "An Album"
        album.mkdir(parents=True)
        for name, offset in (("one", 0), ("two", 5)):
            write_midi(album / f"{name}.midi", [n.shifted(jitter) for n in piece(12.0, offset)])
    out_json = tmp_path / "eval.json"
    result = CliRunner().invoke(app, [
        "eval", "--data", str(tmp_path / "data"), "--prompt-seconds", "3", "--continue-seconds", "2",
        "--prompts-every", "4", "--seeds", "1", "--checkpoint", str(tiny_checkpoint), "--device", "cpu",
        "--harmony", "0", "--json", str(out_json),
    ])
    assert result.exit_code == 0, result.output
    assert "4 files evaluated (8 prompts)" in result.output
    report = json.loads(out_json.read_text())
    assert report["n_files"] == 4 and report["n_pairs"] == 8 and report["config"]["prompts_every_s"] == 4.0
    pairs = report["files"]
    assert sorted({p["recording"] for p in pairs}) == ["studio/A Pianist/An Album/one", "studio/A Pianist/An Album/two"]
    assert sorted({round(p["prompt_start_s"]) for p in pairs}) == [0, 4] and all(p["real_notes"] for p in pairs)
    for system in ("model", "markov", "no_style", "prompt_replay"):
        assert 0.0 <= report[system]["discriminator_auc"] <= 1.0


def test_eval_bounds_its_prompts_and_skips_unreadable_files(tmp_path, tiny_checkpoint):
    """Issue 27 item 24: `--prompts-every 1e-9` grew memory until it died; an unreadable file was a traceback (train
    skips it with a warning, and so does eval)."""
    runner = CliRunner()
    data = tmp_path / "data"
    data.mkdir()
    tiny = runner.invoke(app, ["eval", "--data", str(data), "--prompts-every", "1e-9"])
    assert tiny.exit_code == 2 and "prompts_every_s must be in [1, 3600]" in tiny.output
    write_midi(data / "a.mid", piece(6.0))
    (data / "mem.mid").symlink_to("/proc/self/mem")  # a regular file whose bytes cannot be read
    result = runner.invoke(app, ["eval", "--data", str(data), "--prompt-seconds", "3", "--continue-seconds", "2",
                                 "--seeds", "1", "--checkpoint", str(tiny_checkpoint), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 unreadable" in result.output


def test_prompts_per_file_are_bounded():
    from tatumflow.eval.prompts import MAX_PROMPTS_PER_FILE, prompt_splits

    notes = [Note(0.05 * i, 0.05, 60 + i % 12, 80) for i in range(100_000)]  # 5,000 s of notes
    assert len(prompt_splits(notes, 3.0, 2.0, 0.01, every_s=1.0)) == MAX_PROMPTS_PER_FILE
