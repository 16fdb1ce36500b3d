"""`tatumflow inspect FILE.mid [--json]`: the round-trip statistics of a file, and clear errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.notes import Note, write_midi

KEYS = {
    "notes",
    "seconds",
    "notes_per_second",
    "polyphony",
    "steps",
    "kept_fraction",
    "onset_error_ms_median",
    "onset_error_ms_max",
    "silences_shortened",
}
runner = CliRunner()


def _file(tmp_path):
    path = tmp_path / "two hands, café.mid"  # names in PiJAMA have spaces, commas and non-ASCII characters
    notes = [Note(0.0, 1.0, 48, 70), Note(0.0, 1.0, 55, 70)] + [Note(0.25 * i + 0.003, 0.2, 72, 90) for i in range(4)]
    write_midi(path, notes)
    return path


def test_inspect_json_has_the_keys_and_a_lossless_round_trip(tmp_path):
    result = runner.invoke(app, ["inspect", str(_file(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats.keys() >= KEYS
    assert (stats["notes"], stats["steps"], stats["kept_fraction"], stats["silences_shortened"]) == (6, 6, 1.0, 0)
    assert stats["seconds"] == 1.0 and stats["notes_per_second"] == 6.0
    assert stats["polyphony"] == round((2 + 2 + 3 + 3 + 3 + 3) / 6, 3)  # the chord sees 2 (each), the melody 3
    assert stats["onset_error_ms_max"] == 3.0


def test_inspect_table(tmp_path):
    result = runner.invoke(app, ["inspect", str(_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "kept fraction" in result.stdout and "│ 1.00 " in result.stdout and "0000" not in result.stdout


def test_inspect_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.mid")])
    assert result.exit_code == 2
    assert "not found" in result.output and "nope.mid" in result.output


def test_inspect_corrupt_file_exits_2_naming_it(tmp_path):
    path = tmp_path / "broken.mid"
    path.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x90<")
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 2
    assert "broken.mid" in result.output
