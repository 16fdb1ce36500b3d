"""The offline commands through typer's runner: generate, presets, and their errors."""

import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note, read_midi_tracks, write_midi

from .tiny import STYLES, tiny_model

runner = CliRunner()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    ckpt = Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", ckpt)


@pytest.fixture
def prompt(tmp_path):
    path = tmp_path / "prompt.mid"
    write_midi(path, [Note(0.2 * i, 0.35, 55 + (i * 7) % 24, 70) for i in range(30)])
    return path


def test_generate_writes_two_tracks_of_the_requested_length(checkpoint, prompt, tmp_path):
    out = tmp_path / "out.mid"
    result = runner.invoke(app, ["generate", "--prompt", str(prompt), "--seconds", "6", "--out", str(out),
                                 "--checkpoint", str(checkpoint), "--seed", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    tracks = read_midi_tracks(out)
    assert list(tracks) == ["prompt", "tatumflow"]
    assert len(tracks["prompt"]) == 30
    generated = tracks["tatumflow"]
    assert generated, "no notes generated"
    start = max(n.onset_s for n in tracks["prompt"])
    assert min(n.onset_s for n in generated) >= start
    assert max(n.end_s for n in generated) <= start + 0.01 + 6 + 0.011  # ends by the requested length
    assert all(n.duration_s > 0 for n in generated)


def test_generate_from_silence_and_same_seed_same_file(checkpoint, tmp_path):
    outs = []
    for name in ("a.mid", "b.mid"):
        out = tmp_path / name
        result = runner.invoke(app, ["generate", "--seconds", "4", "--out", str(out), "--checkpoint", str(checkpoint),
                                     "--seed", "5", "--top-p", "0.9", "--temperature", "0.8"])
        assert result.exit_code == 0, result.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert read_midi_tracks(tmp_path / "a.mid")["prompt"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompt", "missing.mid"], "not found"),
        (["--preset", "nope"], "valid presets: ballad, bebop, stride, tatum"),
        (["--temperature", "0"], "temperature must be in"),
        (["--top-p", "1.5"], "top_p must be in"),
        (["--seconds", "-1"], "--seconds must be in"),
        (["--device", "tpu"], "device must be auto, cpu or cuda"),
        (["--checkpoint", "nowhere"], "checkpoint not found"),
    ],
)
def test_generate_bad_input_is_a_clear_error(checkpoint, tmp_path, args, message):
    argv = ["generate", "--out", str(tmp_path / "o.mid"), "--seconds", "2", "--checkpoint", str(checkpoint), *args]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "o.mid").exists()


def test_generate_corrupt_prompt_names_the_file(checkpoint, tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFF not midi at all")
    result = runner.invoke(app, ["generate", "--prompt", str(bad), "--out", str(tmp_path / "o.mid"),
                                 "--checkpoint", str(checkpoint)])
    assert result.exit_code == 2 and "bad.mid" in result.output


def test_presets_lists_the_four_presets():
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0
    for name in ("tatum", "stride", "ballad", "bebop"):
        assert name in result.output
