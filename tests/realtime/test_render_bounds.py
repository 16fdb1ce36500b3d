"""`tatumflow render` of bad soundfonts, far events and full disks: one line, exit 2, nothing left behind, and a
bound on what it writes (synth.MAX_GAP_S, synth.MAX_RENDER_S)."""

from __future__ import annotations

import wave

import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.notes import Note, write_midi
from tatumflow.realtime.ports.synth import MAX_GAP_S, find_soundfont

from ..full_disk import full_disk, leftovers

pytest.importorskip("fluidsynth")


@pytest.fixture(autouse=True)
def _soundfont():
    try:
        find_soundfont()
    except ValueError as err:
        pytest.skip(str(err))


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize("font", ["nosuch.sf2", "garbage.sf2"])
def test_a_bad_soundfont_is_one_line_and_no_wav(tmp_path, font):
    mid = tmp_path / "in.mid"
    write_midi(mid, [Note(0.0, 0.5, 60, 80)])
    (tmp_path / "garbage.sf2").write_bytes(b"RIFF" + bytes(100))
    result = CliRunner().invoke(app, ["render", str(mid), str(tmp_path / "out.wav"),
                                      "--soundfont", str(tmp_path / font)])
    assert "soundfont" in _one_line_error(result)
    assert not (tmp_path / "out.wav").exists()


_HEADER = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + (480).to_bytes(2, "big")


def _far_file(path, ticks: int) -> None:
    """A note whose note-off comes `ticks` after its note-on (0x0FFFFFFF at 480 per beat: 77 hours at 120 bpm)."""
    from tests.hostile_midi import _vlq

    body = b"\x00\x90\x3c\x40" + _vlq(ticks) + b"\x80\x3c\x00\x00\xff\x2f\x00"
    path.write_bytes(_HEADER + b"MTrk" + len(body).to_bytes(4, "big") + body)


def test_a_far_event_is_cut_to_the_stated_gap(tmp_path):
    mid, wav = tmp_path / "far.mid", tmp_path / "far.wav"
    _far_file(mid, 0x0FFFFFFF)
    result = CliRunner().invoke(app, ["render", str(mid), str(wav)])
    assert result.exit_code == 0, result.output
    with wave.open(str(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert MAX_GAP_S <= seconds <= MAX_GAP_S + 2  # the 77-hour note is cut to 30 s, with the 1.5 s tail


def test_more_than_the_longest_render_is_refused_before_writing(tmp_path):
    """Gaps just under the cut, one after another: 3 hours of music is more than render writes."""
    from tests.hostile_midi import _vlq

    gap = _vlq(int(0.9 * MAX_GAP_S * 960))  # ticks at 120 bpm, 480 per beat: 960 a second
    body = b"".join(b"\x00\x90\x3c\x40" + gap + b"\x80\x3c\x00" for _ in range(400)) + b"\x00\xff\x2f\x00"
    mid, wav = tmp_path / "long.mid", tmp_path / "long.wav"
    mid.write_bytes(_HEADER + b"MTrk" + len(body).to_bytes(4, "big") + body)
    result = CliRunner().invoke(app, ["render", str(mid), str(wav)])
    assert "hours of audio" in _one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mid"]


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    mid = tmp_path / "in.mid"
    write_midi(mid, [Note(0.0, 2.0, 60, 80)])
    with full_disk(tmp_path / "disk") as disk:
        result = CliRunner().invoke(app, ["render", str(mid), str(disk / "out.wav")])
        assert "No space left" in _one_line_error(result)
        assert leftovers(disk) == []
