"""Hostile paths and options: one-line errors with exit code 2, before any work starts, no traceback."""

import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.paths import check_input_file, check_output_dir, check_output_file


@pytest.fixture
def places(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["generate", "--out", "{dir}", "--seconds", "1"], "is a directory"),
    (["generate", "--out", "{tmp}/missing/x.mid", "--seconds", "1"], "does not exist"),
    (["generate", "--out", "{tmp}/x.mid", "--prompt", "{dir}"], "is a directory, not a file"),
    (["generate", "--out", "{tmp}/x.mid", "--prompt", "/dev/zero"], "not a regular file"),
    (["generate", "--out", "{tmp}/x.mid", "--prompt", "{tmp}/nothing.mid"], "not found"),
    (["generate", "--out", "{tmp}/x.mid", "--seconds", "nan"], "--seconds must be in"),
    (["train", "--data", "{dir}", "--out", "{file}"], "is a file; give a folder"),
    (["train", "--data", "{file}", "--out", "{tmp}/run"], "is a file; give a folder of MIDI files"),
    (["train", "--data", "{dir}", "--out", "{tmp}/run", "--cache", "{file}"], "is a file; give a folder"),
    (["train", "--data", "{dir}", "--out", "{tmp}/run", "--precision", "fp8"], "precision must be one of"),
])
def test_bad_paths_and_options_fail_at_once(places, args, message):
    args = [a.format(dir=places / "dir", file=places / "file", tmp=places) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_path_checks(places):
    assert check_output_file(places / "new.mid", "--out") == places / "new.mid"
    assert check_output_dir(places / "a" / "b", "--out") == places / "a" / "b"
    assert check_input_file(places / "file", "MIDI file") == places / "file"
    with pytest.raises(ValueError, match="is a directory"):
        check_output_file(places / "dir", "--record")
    with pytest.raises(FileNotFoundError):
        check_input_file(places / "none.mid", "MIDI file")


@pytest.mark.parametrize("args, message", [
    (["--preset", "swing"], "unknown preset 'swing'; valid presets: ballad, bebop, stride, tatum"),
    (["--mode", "solo"], "unknown --mode 'solo'; valid modes: call-response, duet, continue"),
    (["--sync", "wobble"], "unknown --sync 'wobble'"),
    (["--jack-input", "fast"], "--jack-input must be one of dump, callback"),
    (["--controls", "/no/such.toml"], "controls file not found"),
    (["--checkpoint", "/no/such/checkpoint"], "--checkpoint folder not found: /no/such/checkpoint"),
    (["--device", "tpu"], "--device must be auto, cpu or cuda, got 'tpu'"),
])
def test_jam_refuses_a_bad_option_before_the_model_loads(monkeypatch, args, message):
    """The session's configuration is checked whole first (realtime/session/jamconfig.py): no model, no port, no
    process."""
    import time

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr("tatumflow.generate.load.load_generator", no_model)
    monkeypatch.setattr("tatumflow.realtime.ports.deadman.DeadMan", no_model)
    monkeypatch.setenv("MIDO_BACKEND", "mido.backends.rtmidi/UNIX_JACK")  # no probing; the options fail first
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, ["jam", "--no-tui", *args])
    took = time.perf_counter() - t0
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert took < 1.0, f"{took:.2f} s"


def test_tui_without_a_terminal_is_refused_in_one_line(tmp_path):
    """Issue 27 item 6: `jam --tui` with stdout piped showed nothing and said nothing."""
    result = CliRunner().invoke(app, ["jam", "--tui", "--mock", "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--tui needs a terminal" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "r.json").exists()


def test_controls_help_does_not_mention_jam_options():
    result = CliRunner().invoke(app, ["controls", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--controls" in result.output and "--learn" not in result.output
