"""The printed summary of `tatumflow eval`: one row per metric, one column per system and one for the real
continuation (empty where a metric compares a system with it: ratios, distances, the discriminator)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # evaluate imports nothing from here; the type is for the signature only
    from rich.table import Table

    from .evaluate import EvalReport

# (key, label, systems only?) per section.
CONTINUATION_ROWS = (
    ("pitch_class_kl", "pitch-class KL (real||gen)", True),
    ("pctm_cosine", "PCTM cosine (chord order)", True),
    ("pctm_cosine_onset", "PCTM cosine (onset order)", True),
    ("density", "notes / s", False),
    ("density_ratio", "density ratio", True),
    ("ioi_mean_s", "mean IOI (s)", False),
    ("ioi_ratio", "IOI ratio", True),
    ("voicing_mean", "notes per onset (30 ms, as played)", False),
    ("voicing_ratio", "voicing ratio", True),
    ("polyphony", "polyphony", False),
    ("velocity_mean", "velocity mean", False),
    ("grammar_errors", "grammar errors", True),
    ("diversity", "diversity across seeds", True),
)
TEXTURE_ROWS = (
    ("notes_per_onset", "notes per onset (35 ms, on the grid)", False),
    ("chord_share", "share of onsets with >= 3 notes", False),
    ("voicing_width", "voicing width, all onsets (semitones)", False),
    ("voicing_width_chords", "voicing width, 2+ note onsets", False),
    ("duration_mean_s", "mean note duration (s)", False),
    ("velocity_std", "velocity spread (std)", False),
    ("tempo_regularity", "tempo regularity (autocorr. peak 0.25-1.5 s)", False),
    ("repeated_top_note", "repeated top note (share of onsets)", False),
    ("run_share", "share of onsets in fast one-way runs", False),
    ("pitch_class_entropy", "pitch-class entropy (nats)", False),
    ("discriminator_auc", "real-vs-generated AUC (CV by recording)", True),
    ("critic_auc", "learned critic AUC (prompt + continuation)", True),
    ("pianist_tatum_share", "pianist classifier: share named Tatum", False),
)
VOICING_ROWS = (  # texture.VOICING_KEYS: shares of the chords' adjacent intervals, bass tenths, register
    ("interval_seconds", "chord intervals: seconds (1-2)", False),
    ("interval_thirds", "chord intervals: thirds (3-4)", False),
    ("interval_fourths_fifths", "chord intervals: fourths/fifths (5, 7)", False),
    ("interval_tritones", "chord intervals: tritones (6)", False),
    ("interval_sixths_sevenths", "chord intervals: sixths/sevenths (8-11)", False),
    ("interval_octaves", "chord intervals: octaves (12)", False),
    ("interval_wider", "chord intervals: wider than an octave", False),
    ("bass_tenth_share", "chords on a bass tenth (two lowest 15-16)", False),
    ("bass_octave_share", "chords on a bass octave (two lowest)", False),
    ("top_octave_share", "chords with the top in octaves (two highest)", False),
    ("register_spread", "register spread (10-90 % pitch range)", False),
)


def _fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3f}"


def summary_table(report: EvalReport) -> Table:
    """A rich Table of the report's means: continuation metrics, texture measures and the ears' AUCs, voicing."""
    from rich.table import Table

    n_files = len({f.path for f in report.files})
    table = Table(title=f"continuation metrics, {n_files} files, {len(report.files)} prompts "
                        f"x {report.config.seeds} seeds")
    table.add_column("metric")
    systems = [name for name in report.summary if name != "real"]
    for name in (*systems, "real"):
        table.add_column(name, justify="right")
    for rows in (CONTINUATION_ROWS, TEXTURE_ROWS, VOICING_ROWS):
        for key, label, systems_only in rows:
            cells = [_fmt(report.summary[name].get(key)) for name in systems]
            cells.append("" if systems_only else _fmt(report.summary["real"].get(key)))
            table.add_row(label, *cells)
        table.add_section()
    return table
