"""Align a chart to an Art Tatum recording beat by beat: the beats of `tatumflow/tunes/charts/reference/*.json`.

    python benchmarks/tunes/reference/align.py gone-with-the-wind --data ../shared/data/pijama [--write] [--show]

The alignment file holds the hand-made part: the chart, its transposition to his key, the recording, the tracker's
tempo hint and, per segment (a chorus), anchors: (bar of the segment, 1-based, the time of its downbeat), the first
bar and the bar after the last at least. This script fills in every beat between them:

1. **the tracker** (librosa's dynamic-programming beat tracker, `librosa.beat.beat_track`, maintained, already a
   dev dependency): over an onset strength made from the MIDI itself, 100 frames a second, each onset adding its
   velocity / 127 (notes under E3, the stride bass, 1.5 times), smoothed by a 15 ms Gaussian; `start_bpm` is the
   hint (his tempo there, read off the tempogram and the bass), `tightness` 100 (librosa's default).
2. **the anchors** (by hand: the downbeats where the bass and the chart agree: `--search T0 T1` lists where bar 1
   fits his lowest notes best, bass notes only; each anchor then read off `--show`'s table, bar by bar): between
   two anchors the tracked beats are kept when the tracker found exactly the beats the bars there hold; where it
   found one more or one less (a beat doubled in a run, one lost in a break) that span's beats are spaced evenly
   between its anchors instead, and the span is listed under `interpolated`.

`--show` prints every bar: its time, the chart's chord(s), and at each beat the lowest note attacked within 60 ms
(+ when it is a tone of the chord) and how many of the notes there are chord tones: what the anchors were checked
against. The chart and the anchors come first (from the tune's usual changes and from his bass), the measure
after: benchmarks/tunes/run.py reference.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tatumflow.notes import Note, read_midi  # noqa: E402
from tatumflow.tunes.chart import read_chart  # noqa: E402
from tatumflow.tunes.reference import CHARTS, REFERENCE, Alignment, aligned_beats, parse_alignment  # noqa: E402

FRAME_S = 0.01
BASS_BELOW = 52  # E3
PC = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")


def onset_strength(notes: list[Note]) -> np.ndarray:
    env = np.zeros(int(max(n.onset_s for n in notes) / FRAME_S) + 200)
    for n in notes:
        env[int(n.onset_s / FRAME_S)] += n.velocity / 127 * (1.5 if n.pitch < BASS_BELOW else 1.0)
    kernel = np.exp(-0.5 * (np.arange(-5, 6) / 1.5) ** 2)
    return np.convolve(env, kernel, "same")


def tracked_beats(notes: list[Note], start_bpm: float, tightness: float) -> np.ndarray:
    import librosa

    _, beats = librosa.beat.beat_track(onset_envelope=onset_strength(notes), sr=round(1 / FRAME_S), hop_length=1,
                                       start_bpm=start_bpm, tightness=tightness, units="time", trim=False)
    return np.asarray(beats, dtype=float)


def fill(anchors: list[tuple[int, float]], tracked: np.ndarray, per_bar: int) -> tuple[list[float], list[list[int]]]:
    """Every beat from the first anchor's bar to the last's (excluded), and the spans spaced evenly."""
    beats: list[float] = []
    evened: list[list[int]] = []
    for (bar_a, t_a), (bar_b, t_b) in zip(anchors, anchors[1:]):
        want = (bar_b - bar_a) * per_bar
        tol = 0.25 * (t_b - t_a) / want
        inside = [t for t in tracked if t_a + tol < t < t_b - tol]
        if len(inside) == want - 1:
            beats += [t_a, *inside]
        else:
            beats += np.linspace(t_a, t_b, want + 1)[:-1].tolist()
            evened.append([bar_a, bar_b])
    return [round(t, 3) for t in beats], evened


def show(notes: list[Note], beats: list[tuple[float, object]], per_bar: int, first_bar: int) -> None:
    for k in range(0, len(beats), per_bar):
        row = []
        for t, chord in beats[k:k + per_bar]:
            near = [n for n in notes if abs(n.onset_s - t) <= 0.06]
            tones = getattr(chord, "tones", frozenset())
            low = min(near, key=lambda n: n.pitch) if near else None
            mark = "" if low is None else ("+" if low.pitch % 12 in tones else "-")
            name = f"{PC[low.pitch % 12]}{low.pitch // 12 - 1}" if low else "."
            row.append(f"{name:>4}{mark}{sum(n.pitch % 12 in tones for n in near)}/{len(near)}")
        symbols = " ".join(dict.fromkeys(getattr(c, "symbol", "") for _, c in beats[k:k + per_bar]))
        print(f"bar {first_bar + k // per_bar:3d} {beats[k][0]:7.2f} {symbols:16s} " + " ".join(row))


def compact_json(raw: dict) -> str:
    """JSON with an object's keys a line each and every list of numbers (beats, anchors) on one line."""
    numbers = re.compile(r"\[(?:[^\[\]{}\"]|\[[^\[\]{}\"]*\])*\]")
    return numbers.sub(lambda m: " ".join(m.group(0).split()).replace("[ ", "[").replace(" ]", "]"),
                       json.dumps(raw, indent=1)) + "\n"


def search(notes: list[Note], tracked: np.ndarray, form, t0: float, t1: float, top: int = 6) -> None:
    """Where bar 1 may be between t0 and t1: each tracked beat there tried as a downbeat of the form, scored by the
    share of beats whose lowest note (under G3, within 60 ms) is the chord's bass (its root, or a slash chord's)."""
    beats = tracked[(tracked >= t0) & (tracked < t1)]
    chords = [c for _, c in form.chord_starts()]
    at = [chords[form.chord_index(k)] for k in range(form.total_beats)]
    low = []
    for t in beats:
        near = [n.pitch for n in notes if abs(n.onset_s - t) <= 0.06 and n.pitch < 55]
        low.append(min(near) % 12 if near else None)
    heard = max(1, sum(p is not None for p in low))
    scores = []
    for first in range(min(len(beats), form.total_beats)):
        hits = sum(p == at[(j - first) % form.total_beats].bass for j, p in enumerate(low) if p is not None)
        scores.append((hits / heard, float(beats[first])))
    for score, t in sorted(scores, reverse=True)[:top]:
        print(f"bar 1 at {t:7.2f} s: bass = the chord's root at {score:.2f} of the beats with a bass note")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chart", help="the chart's name (tatumflow/tunes/charts/reference/NAME.json)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "pijama"), help="the PiJAMA root")
    ap.add_argument("--write", action="store_true", help="write the beats into the alignment file")
    ap.add_argument("--show", action="store_true", help="print the bass at every aligned beat")
    ap.add_argument("--search", nargs=2, type=float, metavar=("T0", "T1"),
                    help="print where bar 1 fits the bass best between T0 and T1 s (to choose anchors)")
    args = ap.parse_args()
    path = REFERENCE / f"{args.chart}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    form = read_chart(CHARTS / f"{raw['chart']}.txt").form
    notes = read_midi(Path(args.data) / raw["recording"])
    tracked = tracked_beats(notes, raw["tracker"]["start_bpm"], raw["tracker"]["tightness"])
    if args.search:
        search(notes, tracked, form.transposed(raw.get("transpose", 0)), *args.search)
        return
    for seg in raw["segments"]:
        anchors = [(int(b), float(t)) for b, t in seg["anchors"]]
        seg["beats"], seg["interpolated"] = fill(anchors, tracked, form.beats_per_bar)
        seg["bars"] = anchors[-1][0] - anchors[0][0]
        print(f"{seg['label']}: {seg['bars']} bars, evenly spaced spans {seg['interpolated'] or 'none'}")
    if args.write:
        path.write_text(compact_json(raw), encoding="utf-8")
        print(f"wrote {path}")
    alignment = parse_alignment(raw)
    if args.show:
        for seg in alignment.segments:
            one = Alignment(alignment.chart, alignment.transpose, alignment.recording, (seg,))
            print(f"== {seg.label}")
            show(notes, aligned_beats(one, form), form.beats_per_bar, seg.first_bar)


if __name__ == "__main__":
    main()
