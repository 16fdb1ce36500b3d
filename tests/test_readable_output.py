"""What a user reads (issue 27 item 13): presets without a Python dict, inspect's numbers rounded, no `-x`."""

import re

from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.notes import Note, write_midi
from tatumflow.realtime.engine.report import format_report


def test_presets_print_no_python_dict():
    result = CliRunner().invoke(app, ["presets"])
    assert result.exit_code == 0 and "{" not in result.output and "'" not in result.output
    assert "engine: mode call-response, silence_threshold_s 0.8, latency_budget_ms 150" in result.output


def test_inspect_rounds_to_three_significant_digits(tmp_path):
    notes = [Note(0.1 * i, 0.37, 60 + i % 7, 80) for i in range(300)]
    write_midi(tmp_path / "a.mid", notes)
    result = CliRunner().invoke(app, ["inspect", str(tmp_path / "a.mid")])
    assert result.exit_code == 0, result.output
    polyphony = re.search(r"polyphony\s+│\s+(\S+)", result.output).group(1)
    assert re.fullmatch(r"\d\.\d\d", polyphony), polyphony  # 3.70, not 3.7000
    assert "│ notes                 │ 300" in result.output


def test_no_real_time_factor_reads_as_a_dash_not_dash_x():
    report = {"mode": "duet", "duration_s": 1.0, "model": "mock", "windows": 0, "realtime_factor": None,
              "replies": 0, "notes_sent": 0, "late_notes": 0, "dropped_notes": 0, "degraded_windows": 0,
              "skipped_windows": 0, "stuck_notes": 0, "input_messages": 0, "input_lost": 0, "human_notes": 0,
              "tempo_source": "none", "tempo_bpm_last": None, "tempo_bpm_median": None}
    text = format_report(report)
    assert "real-time factor -" in text and "-x" not in text
    assert "real-time factor 12.5x" in format_report(dict(report, realtime_factor=12.5))
