"""`tatumflow eval --changes`: playing over charts measured (eval/charts.py), with a tiny random model."""

import json

import pytest
import torch
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.eval import charts as chart_eval
from tatumflow.eval.charts import (
    ChartEvalConfig,
    evaluate_charts,
    excerpt_textures,
    markers_at_every_bar,
    mean_texture,
    table_rows,
    tatum_aligned_textures,
    tatum_reference,
    texture_ratios,
)
from tatumflow.eval.texture import TEXTURE_KEYS
from tatumflow.generate.controls import Controls
from tatumflow.model.checkpoint import Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer
from tatumflow.notes import Note
from tatumflow.timing.form import Changes
from tatumflow.tunes.chart import parse_chart
from tatumflow.tunes.reference import CHARTS

from ..tiny import STYLES, tiny_model
from ..tunes.test_reference import PIJAMA

torch.set_num_threads(1)
CHART = "title: Four Bars\nmeter: 4/4\ntempo: 120\n[A]\n| C | G7 | F | Dm7 |\n"
CONTROLS = Controls(style={"Art Tatum": 1.0}, window_s=1.0, chart_weight=4.0)


def test_the_chart_raises_the_share_and_every_bar_has_its_marker(generator):
    chart = parse_chart(CHART)
    report = evaluate_charts(generator, [("four-bars.txt", chart)], CONTROLS, ChartEvalConfig(choruses=4, seeds=2))
    entry = report["charts"][0]
    assert entry["tatum"] is None and entry["bars"] == 4 and entry["meter"] == "4/4"
    with_chart, without = entry["with_chart"]["summary"], entry["without_chart"]["summary"]
    assert with_chart["runs"] == without["runs"] == 2
    assert with_chart["markers_at_every_bar"] and without["markers_at_every_bar"]
    assert with_chart["chord_tone_share"] > without["chord_tone_share"] + 0.2, (with_chart, without)
    assert with_chart["margin"] > 0.3 and with_chart["grammar_errors"] == 0
    assert sum(r["notes_at_beats"] for r in entry["with_chart"]["runs"]) >= 10
    rows = table_rows(report)
    assert [r[1] for r in rows] == ["with chart", "without chart"] and rows[0][0] == "Four Bars"


def test_a_missing_marker_is_found(monkeypatch):
    changes = Changes(parse_chart(CHART).form, 120.0, choruses=2)
    notes = [Note(0.0, 0.4, 60, 80)]
    assert markers_at_every_bar(notes, changes)
    real = chart_eval.performance_midi

    def drop_one(*args, **kwargs):  # a writer that loses the third bar's marker
        midi = real(*args, **kwargs)
        markers = [m for m in midi.tracks[0] if m.type == "marker"]
        midi.tracks[0].remove(markers[2])
        return midi

    monkeypatch.setattr(chart_eval, "performance_midi", drop_one)
    assert not markers_at_every_bar(notes, changes)


def test_tatum_reference_where_an_alignment_exists(tmp_path):
    assert tatum_reference(CHARTS / "tiger-rag.txt", None) is None
    unmeasured = tatum_reference(CHARTS / "gone-with-the-wind.txt", None)
    assert unmeasured["measured"] is False and "--pijama" in unmeasured["why"]
    elsewhere = tatum_reference(CHARTS / "gone-with-the-wind.txt", tmp_path)
    assert elsewhere["measured"] is False and "is not under" in elsewhere["why"]


def test_excerpts_are_cut_from_the_start_and_measured_on_the_grid():
    # 40 s: a single note every 0.25 s to 14.75 s, then triads every 0.5 s (the first at 15.004: snapped to 0)
    notes = [Note(0.25 * k, 0.2, 60 + k % 5, 70 + 10 * (k % 2)) for k in range(60)]
    notes += [Note(15.004 + 0.5 * k, 0.4, p, 80) for k in range(50) for p in (60, 64, 67)]
    first, second = excerpt_textures(notes, 0.0, 40.0)  # 30-45 s does not end by 40 s
    assert first["notes_per_onset"] == 1.0 and first["velocity_std"] == pytest.approx(5.0, abs=0.2)
    assert second["notes_per_onset"] == 3.0 and second["chord_share"] == 1.0 and second["voicing_width"] == 7.0
    assert second["duration_mean_s"] == pytest.approx(0.4) and second["velocity_std"] == 0.0
    assert len(excerpt_textures(notes, 0.0, 40.0, every_s=30.0)) == 1
    assert excerpt_textures(notes[:9], 0.0, 20.0) == []  # fewer than ten notes
    mean = mean_texture([first, second])
    assert mean["notes_per_onset"] == 2.0 and set(mean) == set(TEXTURE_KEYS)
    ratio = texture_ratios(mean, {**mean, "notes_per_onset": 4.0, "run_share": 0.0})
    assert ratio["notes_per_onset"] == 0.5 and ratio["chord_share"] == 1.0 and "run_share" not in ratio


@pytest.mark.corpus
@pytest.mark.skipif(not PIJAMA.is_dir(), reason="needs ../shared/data/pijama")
def test_tatum_aligned_choruses_give_ten_excerpts_in_tempo():
    """Gone With the Wind's two choruses (108 s: 7 excerpts) and Tea for Two's two (57 s: 3), his touch kept."""
    excerpts = tatum_aligned_textures(PIJAMA)
    assert len(excerpts) == 10
    mean = mean_texture(excerpts)
    assert mean["velocity_std"] > 8 and 0.1 < mean["tempo_regularity"] < 0.5 and mean["notes_per_onset"] > 1.5


@pytest.mark.parametrize("choruses, seeds", [(0, 1), (9, 1), (1, 0), (1, 33)])
def test_config_bounds(choruses, seeds):
    with pytest.raises(ValueError, match="--choruses|--seeds"):
        ChartEvalConfig(choruses, seeds)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "ckpt", Checkpoint(tiny_model(context_steps=256), Tokenizer(), STYLES))


def test_eval_changes_command(tmp_path, tiny_checkpoint):
    chart, bad, out = tmp_path / "two.txt", tmp_path / "bad.txt", tmp_path / "charts.json"
    chart.write_text(CHART, encoding="utf-8")
    bad.write_text("| C | Hmaj7 |\n", encoding="utf-8")
    runner = CliRunner()
    base = ["eval", "--checkpoint", str(tiny_checkpoint), "--device", "cpu", "--json", str(out)]
    for args, message in (([str(bad)], "unknown chord symbol 'Hmaj7'"), ([str(tmp_path / "nope.txt")], "not found")):
        result = runner.invoke(app, [*base, "--changes", str(chart), "--changes", *args])
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    both = runner.invoke(app, [*base, "--changes", str(chart), "--data", str(tmp_path)])
    assert both.exit_code == 2 and "not both" in both.output
    assert runner.invoke(app, base).exit_code == 2
    ignored = runner.invoke(app, [*base, "--changes", str(chart), "--plot", str(tmp_path / "p.png"), "--best-of", "2"])
    assert ignored.exit_code == 2 and "--plot, --best-of apply to --data only" in ignored.output
    result = runner.invoke(app, [*base, "--changes", str(chart), "--choruses", "1", "--seeds", "1"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "chord-tone share" in result.output and "without chart" in result.output
    report = json.loads(out.read_text())
    assert report["choruses"] == 1 and report["seeds"] == 1 and report["preset"] == "tatum"
    summary = report["charts"][0]["with_chart"]["summary"]
    assert summary["runs"] == 1 and summary["markers_at_every_bar"] is True and summary["grammar_errors"] >= 0
