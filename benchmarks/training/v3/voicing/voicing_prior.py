"""A voicing prior (issue 28, item 5, the second half): the chords' intervals brought toward Art Tatum's at decoding.

The model stacks its chords from other intervals than his (vocabulary.md: more seconds and fourths/fifths, fewer
thirds, octaves and bass tenths). A note that joins the onset before it (delta 0) is drawn with the pitch head
tilted by `weight * log(P_tatum(i) / P_model(i))`, `i` the interval above the onset's highest pitch so far (the
tokenizer orders a chord's notes by pitch, so that is the adjacent interval the new note makes). Both distributions
are of that very event, counted on the training split only: Tatum's real continuations (snapped to the 10 ms grid)
against the model's own continuations of his training-split prompts (preset `tatum`). The weight is chosen on the
tuning split; the report split is never read.

    OMP_NUM_THREADS=1 python benchmarks/training/v3/voicing/voicing_prior.py estimate --data PIJAMA
    OMP_NUM_THREADS=1 python benchmarks/training/v3/voicing/voicing_prior.py judge --data PIJAMA --weights 0 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from tatumflow.bench.common import environment
from tatumflow.eval.prompts import pair_seed, prompt_splits
from tatumflow.eval.texture import chord_pitches, snap_to_grid
from tatumflow.generate.continuation import continue_notes
from tatumflow.generate.load import load_generator
from tatumflow.generate.window import Window
from tatumflow.notes import PIANO_LOW, Note, read_midi
from tatumflow.presets import controls_from
from tatumflow.stamp import STAMP, stamp
from tatumflow.tune.splits import pijama_recordings, tatum_split

HERE = Path(__file__).resolve().parent
PROMPT_S, CONTINUE_S, EVERY_S, GRID_S = 20.0, 15.0, 30.0, 0.01
WIDEST = 25  # intervals above 24 semitones share the last bin
SMOOTH = 1.0  # add-one counts
CHORD_STEPS = 3  # eval.texture groups an onset's notes within 35 ms of its first: 3 grid steps of 10 ms


def onset_intervals(notes: Iterable[Note], steps: int = 0) -> Counter:
    """The interval each note makes above the highest pitch of its onset so far, for the notes that join an onset
    above its top: with `steps` 0 the notes on one 10 ms step (in pitch order, as the tokenizer orders them), with
    `steps` 3 every note within 3 steps of the onset's first (eval.texture's 35 ms grouping, in time order)."""
    out: Counter = Counter()
    first, top = None, 0
    for n in sorted(notes, key=lambda n: (round(n.onset_s / GRID_S), n.pitch)):
        q = round(n.onset_s / GRID_S)
        if first is not None and q - first <= steps:
            if n.pitch > top:
                out[min(n.pitch - top, WIDEST)] += 1
                top = n.pitch
        else:
            first, top = q, n.pitch
    return out


def chord_intervals(notes: Sequence[Note]) -> Counter:
    """The adjacent intervals of every chord as eval.texture's voicing measures see them (35 ms onsets, distinct
    pitches sorted), by semitone (above 24 in one bin)."""
    out: Counter = Counter()
    for chord in chord_pitches(notes):
        for low, high in zip(chord, chord[1:]):
            out[min(high - low, WIDEST)] += 1
    return out


def table(tatum: Counter, model: Counter) -> list[float]:
    """log(P_tatum / P_model) over intervals 1..WIDEST, add-one smoothed."""
    t = np.array([tatum[i] + SMOOTH for i in range(1, WIDEST + 1)], dtype=float)
    m = np.array([model[i] + SMOOTH for i in range(1, WIDEST + 1)], dtype=float)
    return [round(float(x), 4) for x in np.log(t / t.sum()) - np.log(m / m.sum())]


def estimate(data: str, per_recording: int, model_per_recording: int) -> dict:
    train, _ = tatum_split(pijama_recordings(data))
    tatum: list[Counter] = [Counter(), Counter(), Counter()]  # one step, the 35 ms group, the chords' mix
    model: list[Counter] = [Counter(), Counter(), Counter()]
    generator = load_generator(None, "cpu")
    controls = controls_from("tatum")
    started, continued = time.time(), 0
    for k, rec in enumerate(train):
        splits = prompt_splits(read_midi(rec.files[0]), PROMPT_S, CONTINUE_S, GRID_S, EVERY_S)[:per_recording]
        for s in splits:
            real = snap_to_grid(s.real, GRID_S, s.start_s + CONTINUE_S)
            tatum[0] += onset_intervals(real)
            tatum[1] += onset_intervals(real, CHORD_STEPS)
            tatum[2] += chord_intervals(real)
        for s in splits[k % 2 :: 2][:model_per_recording]:  # every other prompt, his own excerpts between them
            notes = continue_notes(generator, s.prompt, CONTINUE_S, controls, Window(seed=pair_seed(s.prompt, 0)))
            model[0] += onset_intervals(notes)
            model[1] += onset_intervals(notes, CHORD_STEPS)
            model[2] += chord_intervals(snap_to_grid(notes, GRID_S, s.start_s + CONTINUE_S))
            continued += 1
    counts = {f"{who}_{kind}": {str(i): c[i] for i in range(1, WIDEST + 1)}
              for who, both in (("tatum", tatum), ("model", model))
              for kind, c in zip(("step", "group", "chords"), both)}
    return {**counts, "log_ratio": table(tatum[0], model[0]), "log_ratio_group": table(tatum[1], model[1]),
            "log_ratio_chords": table(tatum[2], model[2]),
            "recordings": len(train), "model_prompts": continued,
            "seconds": round(time.time() - started, 1)}


KEYS = ("critic_auc", "discriminator_auc", "pianist_tatum_share", "pitch_class_kl", "pctm_cosine",
        "interval_seconds", "interval_thirds", "interval_fourths_fifths", "interval_tritones",
        "interval_sixths_sevenths", "interval_octaves", "interval_wider", "bass_tenth_share", "bass_octave_share",
        "top_octave_share", "register_spread", "notes_per_onset", "chord_share", "voicing_width", "duration_mean_s",
        "velocity_std", "tempo_regularity", "run_share", "repeated_top_note", "grammar_errors")


def _group_pitches(context: Sequence[Note], grid_s: float) -> tuple[int, int, list[int]]:
    """(first step, last step, distinct key indices) of the context's last onset group (eval.texture's grouping)."""
    first, last, keys = None, None, set()
    for n in context[-24:]:
        q = round(n.onset_s / grid_s)
        if first is None or q - first > CHORD_STEPS:
            first, keys = q, set()
        last = q
        keys.add(n.pitch - PIANO_LOW)
    assert first is not None and last is not None
    return first, last, sorted(keys)


def insertion_tilt(keys: Sequence[int], w: np.ndarray, n_keys: int = 88) -> np.ndarray:
    """Per candidate key, the change of sum(w[interval]) over the chord's adjacent intervals when the key joins the
    chord `keys` (sorted): above the top it adds one interval, below the bottom one, between two neighbours it
    splits their interval in two; a key already in the chord changes nothing. `w[i - 1]` is interval i's weight."""
    k = np.asarray(keys)
    cand = np.arange(n_keys)
    at = np.searchsorted(k, cand)
    below = np.where(at > 0, k[np.maximum(at - 1, 0)], -1)
    above = np.where(at < len(k), k[np.minimum(at, len(k) - 1)], -1)
    wt = np.concatenate(([0.0], w))  # wt[i] = w[i - 1]; wt[0] unused

    def wi(d: np.ndarray) -> np.ndarray:
        return wt[np.clip(d, 1, WIDEST)]

    out = np.zeros(n_keys)
    has_b, has_a = below >= 0, above >= 0
    out += np.where(has_b, wi(cand - below), 0.0)
    out += np.where(has_a, wi(above - cand), 0.0)
    out -= np.where(has_b & has_a, wi(above - below), 0.0)
    out[np.isin(cand, k)] = 0.0
    return out


def tilted(log_ratio: Sequence[float], weight: float, reach: bool):
    """Patches (the experiment's, not the engine's) that tilt a chord note's pitch head by `weight * log_ratio` of the
    interval above the onset's highest key so far: at delta 0 only (`reach` False: the generator's own delta-0
    bias, so the native step still runs), or at every delta that keeps the note in the onset group (`reach`: on the
    host sampler, the native step off)."""
    from tatumflow.generate.generator import ChunkedGenerator
    from tatumflow.generate.heads import HostSampler

    n_keys = 88
    rows = np.zeros((n_keys, n_keys))
    for top in range(n_keys):
        for key in range(top + 1, n_keys):
            rows[top, key] = weight * log_ratio[min(key - top, WIDEST) - 1]
    originals = ChunkedGenerator._constraints, HostSampler.pitch_bias
    w = weight * np.asarray(log_ratio)

    def constraints(self, state, priors, start_s):
        c = originals[0](self, state, priors, start_s)
        c.chord_reach, c.chord_row = -1, None
        if state.context and weight:
            if reach:  # every key, by how it changes the chord's adjacent intervals
                first, last, keys = _group_pitches(state.context, self.tokenizer.config.grid_s)
                c.chord_reach, c.chord_row = first + CHORD_STEPS - last, insertion_tilt(keys, w)
            elif c.pitches_at_last_onset:  # at delta 0, above the top of the onset on the last step: the onset bias
                row = rows[max(c.pitches_at_last_onset)]  # the native step applies too
                c.onset_pitch_bias = row if c.onset_pitch_bias is None else c.onset_pitch_bias + row
        return c

    def pitch_bias(self, delta, out):
        out = originals[1](self, delta, out)
        if delta <= getattr(self.c, "chord_reach", -1):
            out += self.c.chord_row
        return out

    def patch(on: bool) -> None:
        ChunkedGenerator._constraints = constraints if on else originals[0]  # type: ignore[method-assign]
        HostSampler.pitch_bias = pitch_bias if on else originals[1]  # type: ignore[method-assign]

    return patch


def judge(data: str, weights: Sequence[float], seeds: int, log_ratio: Sequence[float], critic: str,
          pianist: str, reach: bool) -> dict:
    from tatumflow.eval.evaluate import EvalConfig, evaluate
    from tatumflow.eval.judges import Judges

    _, tuning = tatum_split(pijama_recordings(data))
    folder = Path(tempfile.mkdtemp(prefix="tatumflow-voicing-"))  # his tuning files, linked: what eval reads
    for rec in tuning:
        (folder / rec.files[0].name).symlink_to(rec.files[0])
    generator = load_generator(None, "cpu")
    if reach:
        generator.backend.native = generator.backend.static = None  # the host sampler: its pitch bias is patched
    controls = controls_from("tatum")
    judges = Judges.load(critic, pianist)
    cfg = EvalConfig(PROMPT_S, CONTINUE_S, seeds, prompts_every_s=EVERY_S)
    out: dict = {"recordings": [r.key for r in tuning], "seeds": seeds, "reach": reach, "weights": {}}
    try:
        for weight in weights:
            patch = tilted(log_ratio, weight, reach)
            patch(True)
            try:
                started = time.time()
                report = evaluate(generator, [folder], cfg, controls, judges=judges)
            finally:
                patch(False)
            out["weights"][str(weight)] = {name: {k: report.summary[name].get(k) for k in KEYS}
                                           for name in ("model", "real", "no_style", "markov")}
            out["weights"][str(weight)]["seconds"] = round(time.time() - started, 1)
            print(weight, json.dumps(out["weights"][str(weight)]["model"]), flush=True)
    finally:
        shutil.rmtree(folder)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("estimate", "judge"))
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--reach", action="store_true", help="tilt every note of the onset group, not delta 0 only")
    parser.add_argument("--critic", default=str(HERE.parent / "run_c" / "critic"))
    parser.add_argument("--pianist", default=str(HERE.parent / "pianist"))
    parser.add_argument("--data", required=True)
    parser.add_argument("--per-recording", type=int, default=8)
    parser.add_argument("--model-per-recording", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.what == "estimate":
        result = estimate(args.data, args.per_recording, args.model_per_recording)
        print(json.dumps(result["log_ratio"]))
    else:
        ratio = json.loads((HERE / "estimate.json").read_text())["log_ratio_chords" if args.reach else "log_ratio"]
        result = judge(args.data, args.weights, args.seeds, ratio, args.critic, args.pianist, args.reach)
    env = environment(torch.device("cpu"), 1)
    result = {"environment": env, "checkpoint": "embedded default", STAMP: stamp(env["git_commit"] or "unknown"),
              **result}
    Path(args.out or HERE / f"{args.what}.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
