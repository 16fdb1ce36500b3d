"""`tatumflow eval --changes`: does the model play the changes? (issue 29, item 6; benchmarks/tunes runs it too)

For each chart and seed, a performance over the form as `tatumflow generate --changes CHART --choruses K` makes it
(the controls' chart weight and the self-made intro), and the same without the chart (chart weight 0, no intro:
only the chart's tempo and beat grid). Each is measured (tunes/measure.py): the chord-tone share at the beats, the
same share against the chart moved a semitone up (the control), the written file's bar markers (one at every bar
line, naming its chorus and bar: the MIDI `generate` writes, read back) and the grammar errors (eval.metrics).
Where the project has Art Tatum's recording aligned to the chart (tunes/reference.py) and the PiJAMA root is given,
his own share on it is reported beside the model's.

Texture over charts (benchmarks/tunes `run.py texture`): a performance cut into 15 s excerpts one after another from
bar 1 (`excerpt_textures`, each snapped to the 10 ms grid and measured as `tatumflow eval` measures texture), beside
Art Tatum's own, cut the same way from the spans of his recordings aligned to charts (`tatum_aligned_textures`: he
plays a chart in tempo there, as a performance over a chart does) or every 30 s of whole recordings.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import mido

from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from ..notes import Note, read_midi
from ..timing.form import Changes
from ..tunes.chart import Chart
from ..tunes.feel import ChartFeel
from ..tunes.measure import share_report
from ..tunes.midi import bar_marker, performance_midi
from ..tunes.perform import CHART_FEEL, Performance, perform
from ..tunes.reference import REFERENCE, aligned_spans, measure_reference, read_alignment, reference_path
from .metrics import grammar_errors
from .texture import TEXTURE_KEYS, snap_to_grid, texture_measures

MAX_CHARTS = 16
MAX_CHORUSES = 8
MAX_SEEDS = 32
SYSTEMS = ("with_chart", "without_chart")
EXCERPT_S = 15.0
MIN_EXCERPT_NOTES = 10


@dataclass(frozen=True)
class ChartEvalConfig:
    choruses: int = 2
    seeds: int = 3  # seeds 0..seeds-1 per chart and system

    def __post_init__(self) -> None:
        if not 1 <= self.choruses <= MAX_CHORUSES:
            raise ValueError(f"--choruses must be in 1..{MAX_CHORUSES}, got {self.choruses}")
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise ValueError(f"--seeds must be in 1..{MAX_SEEDS}, got {self.seeds}")


def markers_at_every_bar(notes: Sequence[Note], changes: Changes) -> bool:
    """The performance's MIDI file (as `generate --changes` writes it), read back: a marker naming each bar at
    every bar line of the form, and no other."""
    data = io.BytesIO()
    performance_midi({"tatumflow": notes}, changes, after_prompt=False).save(file=data)
    midi = mido.MidiFile(file=io.BytesIO(data.getvalue()))
    ticks_per_s = midi.ticks_per_beat * changes.bpm * 4 / changes.form.beat_unit / 60.0
    found, tick = [], 0
    for msg in midi.tracks[0]:
        tick += msg.time
        if msg.type == "marker":
            found.append((tick, msg.text))
    want = [(round(t * ticks_per_s), bar_marker(changes, chorus, bar)) for t, chorus, bar in changes.bar_lines()]
    return len(found) == len(want) and all(abs(f[0] - w[0]) <= 1 and f[1] == w[1] for f, w in zip(found, want))


def chart_run(gen: ChunkedGenerator, chart: Chart, controls: Controls, seed: int, intro: bool,
              choruses: int, feel: ChartFeel = CHART_FEEL) -> dict:
    """One performance over `chart` (played with `feel`, tunes/feel.py) and its measures."""
    t0 = time.perf_counter()
    perf = perform(gen, chart.form, chart.bpm, choruses, controls, intro=intro, seed=seed, feel=feel)
    return {"seed": seed, **performance_measures(perf), "seconds": round(time.perf_counter() - t0, 1)}


def performance_measures(perf: Performance) -> dict:
    """A performance over a form: its chord-tone shares, grammar errors and whether every bar has its marker."""
    assert perf.changes is not None
    errors = grammar_errors(perf.notes, perf.changes.start_s, perf.changes.end_s)
    return {**share_report(perf.notes, perf.changes), "grammar_errors": sum(errors.values()),
            "markers_at_every_bar": markers_at_every_bar(perf.notes, perf.changes)}


def excerpts(notes: Sequence[Note], start_s: float, end_s: float, every_s: float = EXCERPT_S
             ) -> list[tuple[float, list[Note]]]:
    """(start, the notes attacked inside) of each 15 s excerpt of `notes` starting at `start_s`, then every
    `every_s`, that ends by `end_s` and has at least `MIN_EXCERPT_NOTES` notes."""
    out, t = [], start_s
    while t + EXCERPT_S <= end_s + 1e-9:
        inside = [n for n in notes if t <= n.onset_s < t + EXCERPT_S]
        if len(inside) >= MIN_EXCERPT_NOTES:
            out.append((t, inside))
        t += every_s
    return out


def excerpt_texture(inside: Sequence[Note], start_s: float) -> dict:
    """An excerpt's texture as `tatumflow eval` measures it: its notes moved to start at 0 and snapped to the 10 ms
    grid, releases clipped at its end."""
    return texture_measures(snap_to_grid([n.shifted(-start_s) for n in inside], end_s=EXCERPT_S))


def excerpt_textures(notes: Sequence[Note], start_s: float, end_s: float, every_s: float = EXCERPT_S) -> list[dict]:
    """Texture measures of each excerpt (`excerpts`, `excerpt_texture`)."""
    return [excerpt_texture(inside, t) for t, inside in excerpts(notes, start_s, end_s, every_s)]


def tatum_aligned_textures(pijama_root: str | Path) -> list[dict]:
    """Art Tatum over charts in tempo: 15 s excerpts cut one after another from each span of his recordings aligned
    beat by beat to a chart (tunes/charts/reference/), measured as a performance's are (`excerpt_textures`)."""
    out = []
    for path in sorted(REFERENCE.glob("*.json")):
        alignment = read_alignment(path)
        notes = read_midi(Path(pijama_root) / alignment.recording)
        for start, end in aligned_spans(alignment):
            out += excerpt_textures(notes, start, end)
    return out


def mean_texture(excerpts: Sequence[dict]) -> dict[str, float]:
    """Each texture measure's mean over the excerpts (NaN excerpts of a measure left out)."""
    def mean(key: str) -> float:
        values = [m[key] for m in excerpts if math.isfinite(m[key])]
        return round(statistics.fmean(values), 4) if values else math.nan

    return {k: mean(k) for k in TEXTURE_KEYS}


def texture_ratios(ours: dict[str, float], his: dict[str, float]) -> dict[str, float]:
    """Ours / his, per measure (where his is a number other than 0)."""
    return {k: round(ours[k] / his[k], 3) for k in TEXTURE_KEYS if math.isfinite(his[k]) and his[k]}


def summarize(rows: list[dict]) -> dict:
    """Means over the runs (of those with notes at the beats), the worst run, and totals."""
    def values(key: str) -> list[float]:
        return [r[key] for r in rows if r[key] is not None]

    def mean(key: str) -> float | None:
        return round(statistics.fmean(values(key)), 4) if values(key) else None

    return {"chord_tone_share": mean("chord_tone_share"), "semitone_up_share": mean("semitone_up_share"),
            "margin": mean("margin"), "min_share": min(values("chord_tone_share"), default=None),
            "min_margin": min(values("margin"), default=None),
            "grammar_errors": sum(r["grammar_errors"] for r in rows),
            "markers_at_every_bar": all(r.get("markers_at_every_bar", True) for r in rows), "runs": len(rows)}


def tatum_reference(chart_path: str | Path, pijama_root: str | Path | None) -> dict | None:
    """Art Tatum's share where an alignment exists for the chart (None where none does); not measured (a note
    saying why) without the PiJAMA root or the recording."""
    path = reference_path(chart_path)
    if path is None:
        return None
    alignment = read_alignment(path)
    if pijama_root is None:
        return {"measured": False, "why": "give --pijama (the PiJAMA root) to measure it",
                "recording": alignment.recording}
    if not (Path(pijama_root) / alignment.recording).is_file():
        return {"measured": False, "why": f"{alignment.recording} is not under {pijama_root}"}
    return {"measured": True, **measure_reference(alignment, pijama_root)}


def evaluate_charts(gen: ChunkedGenerator, charts: Sequence[tuple[str, Chart]], controls: Controls,
                    cfg: ChartEvalConfig, pijama_root: str | Path | None = None,
                    on_run: Callable[[int, int, str], None] | None = None) -> dict:
    """Per chart (path, parsed chart): both systems' runs and summaries, and Tatum's reference where one exists."""
    if not 1 <= len(charts) <= MAX_CHARTS:
        raise ValueError(f"give 1..{MAX_CHARTS} charts, got {len(charts)}")
    systems = {"with_chart": (controls, True), "without_chart": (replace(controls, chart_weight=0.0), False)}
    total, done = len(charts) * len(systems) * cfg.seeds, 0
    out = []
    for path, chart in charts:
        entry: dict = {"chart": str(path), "title": chart.title, "bars": len(chart.form.bars), "bpm": chart.bpm,
                       "meter": f"{chart.form.beats_per_bar}/{chart.form.beat_unit}"}
        for name, (ctl, intro) in systems.items():
            rows = []
            for seed in range(cfg.seeds):
                rows.append(chart_run(gen, chart, ctl, seed, intro, cfg.choruses))
                done += 1
                if on_run:
                    on_run(done, total, f"{Path(path).stem} {name} seed {seed}")
            entry[name] = {"summary": summarize(rows), "runs": rows}
        entry["tatum"] = tatum_reference(path, pijama_root)
        out.append(entry)
    return {"choruses": cfg.choruses, "seeds": cfg.seeds, "chart_weight": controls.chart_weight, "charts": out}


def table_rows(report: dict) -> list[tuple[str, ...]]:
    """(chart, system, share, semitone up, margin, worst run, markers, grammar errors) to print."""
    def f(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:.3f}"

    rows: list[tuple[str, ...]] = []
    for c in report["charts"]:
        name = c["title"] or Path(c["chart"]).stem
        for system in SYSTEMS:
            s = c[system]["summary"]
            rows.append((name, system.replace("_", " "), f(s["chord_tone_share"]), f(s["semitone_up_share"]),
                         f(s["margin"]), f(s["min_share"]), "yes" if s["markers_at_every_bar"] else "NO",
                         str(s["grammar_errors"])))
        tatum = c["tatum"]
        if tatum and tatum["measured"]:
            rows.append((name, f"Art Tatum ({tatum['bars']} bars aligned)", f(tatum["chord_tone_share"]),
                         f(tatum["semitone_up_share"]), f(tatum["margin"]), "", "", ""))
        elif tatum:
            rows.append((name, "Art Tatum: not measured", tatum["why"], "", "", "", "", ""))
    return rows
