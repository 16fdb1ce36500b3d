"""Does TatumFlow play the changes? The chord-tone share at the beats over chord charts (issue 29, item 6).

For each chart and seed: `generate --changes CHART --choruses 2` as the CLI does it (the default preset, its
chart weight, the self-made intro), and the same without the chart (chart weight 0, no intro: only the chart's
tempo and beat grid). Measured (tatumflow/tunes/measure.py): the share of notes attacked within 60 ms of a beat
whose pitch class is a tone of the chart's chord there, the same share against the chart moved a semitone up (the
control), and the grammar errors (eval.metrics). Restyle: the share of the melody kept as the top voice (30 ms).

    OMP_NUM_THREADS=1 python benchmarks/tunes/run.py tune --weights 1,2,3     # on the tuning charts
    OMP_NUM_THREADS=1 python benchmarks/tunes/run.py report --json benchmarks/tunes/report.json
    OMP_NUM_THREADS=1 python benchmarks/tunes/run.py texture --data PIJAMA_ROOT --json benchmarks/tunes/texture.json
    python benchmarks/tunes/run.py reference --data PIJAMA_ROOT --json benchmarks/tunes/reference.json
    python benchmarks/tunes/run.py tempo --data PIJAMA_ROOT --against benchmarks/tunes/feel/texture.json --json ...

`tempo`: Art Tatum's in-tempo excerpts of his tuning-split recordings and their tempo (eval/intempo.py), his
reference at each chart's own tempo in quarter notes, and committed `texture` runs set against it per chart
(`texture --tempo-matched` adds the same to a fresh texture run).

`texture`: the texture measures (eval/texture.py, as `tatumflow eval` computes them: 15 s excerpts snapped to the
10 ms grid; eval/charts.py cuts them) of the report charts' performances (the CLI's settings), beside Art Tatum's
own, two references: 15 s excerpts cut one after another from his choruses aligned to charts (in tempo, as a
performance over a chart is; tatumflow/tunes/charts/reference/) and 15 s excerpts every 30 s of his tuning-split
recordings (tune/splits.py; the report split is not read); and the ratios to each.

`reference`: Art Tatum's own chord-tone share on tuning-split recordings aligned beat by beat to charts
(tatumflow/tunes/charts/reference/, made with benchmarks/tunes/reference/align.py), and its semitone-up control.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from tatumflow.eval.charts import (
    chart_run,
    excerpt_textures,
    mean_texture,
    performance_measures,
    summarize,
    tatum_aligned_textures,
    texture_ratios,
)
from tatumflow.eval.intempo import (
    chart_reference,
    duration_by_tempo,
    duration_slope,
    in_tempo_excerpts,
    pooled_texture,
    quarter_bpm,
)
from tatumflow.generate.load import load_generator
from tatumflow.notes import read_midi
from tatumflow.presets import DEFAULT_PRESET, controls_from
from tatumflow.stamp import STAMP
from tatumflow.timing.form import Changes
from tatumflow.tunes.chart import read_chart
from tatumflow.tunes.feel import ChartFeel
from tatumflow.tunes.leadsheet import read_melody
from tatumflow.tunes.measure import melody_kept, share_report
from tatumflow.tunes.perform import CHART_FEEL, perform
from tatumflow.tunes.restyle import RESTYLE_FEEL, choruses_to_cover, restyle

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "tatumflow" / "tunes" / "charts"
TUNING = ["tea-for-two", "old-folks-at-home"]  # chart_weight was chosen on these
REPORT = ["tiger-rag", "humoresque", "sweet-georgia-brown", "let-me-call-you-sweetheart"]  # never tuned on
REFERENCE_CHARTS = ["gone-with-the-wind", "tea-for-two-in-g"]  # his aligned choruses' (tunes/charts/reference/)
MELODIES = ROOT / "benchmarks" / "tunes" / "melodies"
CHORUSES = 2


def one(gen, chart_name: str, controls, seed: int, intro: bool, feel: ChartFeel = CHART_FEEL) -> dict:
    """One performance as `tatumflow eval --changes` measures it (eval/charts.py)."""
    chart = read_chart(CHARTS / f"{chart_name}.txt")
    return {"chart": chart_name, **chart_run(gen, chart, controls, seed, intro, CHORUSES, feel)}


def systems(gen, charts: list[str], seeds: list[int], weights: list[float], ablations: bool = False,
            intro: bool = True, feel: ChartFeel = CHART_FEEL) -> dict:
    base = controls_from(DEFAULT_PRESET)
    out: dict = {}
    for w in weights:
        rows = [one(gen, c, replace(base, chart_weight=w), s, intro, feel) for c in charts for s in seeds]
        key = f"chart_weight {w:g}" + ("" if intro else ", no intro")
        out[key] = {"summary": summarize(rows), "runs": rows}
        print(f"{key}: {out[key]['summary']}", flush=True)
    variants = [("without the chart", 0.0, False)]
    if ablations:  # what the intro and the prior each bring
        variants += [(f"chart_weight {weights[0]:g}, no intro", weights[0], False), ("intro only", 0.0, True)]
    for name, w, intro in variants:
        rows = [one(gen, c, replace(base, chart_weight=w), s, intro, feel) for c in charts for s in seeds]
        out[name] = {"summary": summarize(rows), "runs": rows}
        print(f"{name}: {out[name]['summary']}", flush=True)
    return out


def restyles(gen, seeds: list[int], feel: ChartFeel = RESTYLE_FEEL) -> list[dict]:
    rows = []
    base = controls_from(DEFAULT_PRESET)
    for melody_file, chart_file in (("old-folks-at-home.musicxml", None), ("humoresque.mid", "humoresque")):
        tune = read_melody(MELODIES / melody_file)
        form = read_chart(CHARTS / f"{chart_file}.txt").form if chart_file else tune.form
        assert form is not None
        placed = Changes(form, tune.bpm, tune.start_s)
        placed = replace(placed, choruses=choruses_to_cover(placed, max(n.end_s for n in tune.notes)))
        for s in seeds:
            perf = restyle(gen, tune.notes, base, placed, seed=s, feel=feel)
            rows.append({"melody": melody_file, "seed": s, "melody_notes": len(tune.notes),
                         "melody_kept": melody_kept(tune.notes, perf.notes + perf.melody),
                         **share_report(perf.notes, placed)})
            print(rows[-1], flush=True)
    return rows


def texture(gen, data: str, seeds: list[int], charts: list[str] = REPORT, intro: bool = True,
            feel: ChartFeel = CHART_FEEL) -> dict:
    """The charts' texture (the CLI's settings) beside Art Tatum's, two references: his choruses aligned to charts
    (in tempo, as over a chart) and 15 s every 30 s of his tuning-split recordings; the ratios to each; and the
    chord-tone share of the same performances."""
    from tatumflow.tune.splits import pijama_recordings, tatum_split

    ours: list[dict] = []
    rows = []
    base = controls_from(DEFAULT_PRESET)
    for c in charts:
        chart = read_chart(CHARTS / f"{c}.txt")
        for seed in seeds:
            perf = perform(gen, chart.form, chart.bpm, CHORUSES, base, intro=intro, seed=seed, feel=feel)
            assert perf.changes is not None
            excerpts = excerpt_textures(perf.notes, perf.changes.start_s, perf.changes.end_s)
            rows.append({"chart": c, "seed": seed, **performance_measures(perf), "excerpts": len(excerpts),
                         "texture": mean_texture(excerpts)})
            ours += excerpts
            print(rows[-1], flush=True)
    _, tuning = tatum_split(pijama_recordings(data))
    his: list[dict] = []
    for rec in tuning:
        notes = read_midi(rec.files[0])
        his += excerpt_textures(notes, 0.0, max(n.onset_s for n in notes), every_s=30.0)
    aligned = tatum_aligned_textures(data)
    mean = {"tatumflow_over_charts": mean_texture(ours), "tatum_tuning_split": mean_texture(his),
            "tatum_aligned_choruses": mean_texture(aligned)}
    return {"intro": intro, "excerpts": {"tatumflow": len(ours), "tatum": len(his), "tatum_aligned": len(aligned)},
            **mean, "ratio": texture_ratios(mean["tatumflow_over_charts"], mean["tatum_tuning_split"]),
            "ratio_aligned": texture_ratios(mean["tatumflow_over_charts"], mean["tatum_aligned_choruses"]),
            "share": summarize(rows), "runs": rows}


def tatum_in_tempo(data: str) -> list[dict]:
    """Every 15 s excerpt (5 s apart) of his tuning-split recordings, its tempo, and the texture of those in tempo
    (eval/intempo.py; the report split is not read)."""
    from tatumflow.tune.splits import pijama_recordings, tatum_split

    _, tuning = tatum_split(pijama_recordings(data))
    out: list[dict] = []
    for rec in tuning:
        notes = read_midi(rec.files[0])
        out += in_tempo_excerpts(notes, 0.0, max(n.onset_s for n in notes), Path(rec.key).name)
    return out


def tempo_matched(runs: list[dict], his: list[dict]) -> dict:
    """Per chart of texture rows (chart, excerpts, mean texture per run), the model against his in-tempo excerpts
    near the chart's tempo in quarter notes (eval/intempo.py `chart_reference`), and both pooled by the model's
    excerpts (his side: each chart's reference weighted as the model's excerpts are; charts with no reference
    left out; `pooled_enough`: only the charts whose reference has `MIN_EXCERPTS` excerpts from >= 2 recordings)."""
    per: list[dict] = []
    for c in dict.fromkeys(r["chart"] for r in runs):
        chart = read_chart(CHARTS / f"{c}.txt")
        bpm = quarter_bpm(chart.bpm, chart.form.beat_unit)
        rows = [r for r in runs if r["chart"] == c]
        n = sum(r["excerpts"] for r in rows)
        ours = pooled_texture([(r["excerpts"], r["texture"]) for r in rows])
        ref = chart_reference(his, bpm)
        per.append({"chart": c, "quarter_bpm": bpm, "runs": len(rows), "excerpts": n, "tatumflow": ours,
                    "duration_beats": round(ours["duration_mean_s"] * bpm / 60.0, 4), "tatum": ref,
                    "ratio": texture_ratios(ours, ref["texture"]) if ref["excerpts"] else {}})

    def pooled(charts: list[dict]) -> dict:
        ours = pooled_texture([(p["excerpts"], p["tatumflow"]) for p in charts])
        his_mix = pooled_texture([(p["excerpts"], p["tatum"]["texture"]) for p in charts])
        return {"charts": [p["chart"] for p in charts], "tatumflow": ours, "tatum": his_mix,
                "ratio": texture_ratios(ours, his_mix)}

    return {"charts": per, "pooled": pooled([p for p in per if p["tatum"]["excerpts"]]),
            "pooled_enough": pooled([p for p in per if p["tatum"]["enough"]])}


def tempo(data: str, against: list[str]) -> dict:
    """His tempo-matched reference (eval/intempo.py), his note length by tempo, and committed texture runs
    (`run.py texture` JSON files) set against it per chart."""
    his = tatum_in_tempo(data)
    steady = [e for e in his if e["in_tempo"]]
    out: dict = {"what": "tempo", "excerpts": len(his), "in_tempo": len(steady),
                 "duration_by_tempo": duration_by_tempo(his), "duration_slope": duration_slope(his),
                 "references": {c: chart_reference(his, quarter_bpm(ch.bpm, ch.form.beat_unit))
                                for c in TUNING + REPORT + REFERENCE_CHARTS
                                for ch in [read_chart(CHARTS / f"{c}.txt")]},
                 "against": [], "tatum_excerpts": his}
    for path in against:
        result = json.loads(Path(path).read_text(encoding="utf-8"))
        out["against"].append({"file": Path(path).resolve().relative_to(ROOT).as_posix(), "seeds": result["seeds"],
                               "model_stamp": result.get(STAMP), **tempo_matched(result["runs"], his)})
    return out


def reference(data: str) -> dict:
    """Art Tatum's chord-tone share on his recordings aligned to charts (tunes/charts/reference/), and the
    semitone-up control, per recording and over all (notes pooled)."""
    from tatumflow.tunes.reference import REFERENCE, measure_reference, read_alignment

    rows = [measure_reference(read_alignment(p), data) for p in sorted(REFERENCE.glob("*.json"))]
    for r in rows:
        print(r, flush=True)
    counted = sum(r["notes_at_beats"] for r in rows)
    pooled = {k: round(sum(r[k] * r["notes_at_beats"] for r in rows) / counted, 4)
              for k in ("chord_tone_share", "semitone_up_share", "margin")}
    return {"recordings": rows, "pooled": {**pooled, "notes_at_beats": counted}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["tune", "report", "restyle", "texture", "reference", "tempo"],
                    help="restyle: only the restyle part of --json")
    ap.add_argument("--data", help="texture, reference: the PiJAMA root")
    ap.add_argument("--tuning-charts", action="store_true", help="texture: on the tuning charts (default: report)")
    ap.add_argument("--reference-charts", action="store_true",
                    help="texture: on the charts his aligned choruses play, at his tempos (default: report)")
    ap.add_argument("--tempo-matched", action="store_true",
                    help="texture: also against his in-tempo excerpts near each chart's tempo (eval/intempo.py)")
    ap.add_argument("--against", action="append", default=[],
                    help="tempo: a committed `texture` JSON to set against his tempo-matched reference (repeatable)")
    ap.add_argument("--weights", default=None, help="chart weights to try (default: the preset's)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds FIRST .. FIRST + SEEDS - 1")
    ap.add_argument("--json")
    ap.add_argument("--no-intro", action="store_true", help="tune, texture: without the self-made intro")
    ap.add_argument("--no-feel", action="store_true",
                    help="tune, report, restyle, texture: without the feel over a chart (tunes/feel.py; the controls "
                    "as given)")
    args = ap.parse_args()
    feel = ChartFeel.off() if args.no_feel else CHART_FEEL
    if args.what == "tempo":  # his recordings and committed runs: no model
        tempo_result = tempo(args.data, args.against)
        if args.json:
            Path(args.json).write_text(json.dumps(tempo_result, indent=1) + "\n", encoding="utf-8")
        print(json.dumps({k: v for k, v in tempo_result.items() if k != "tatum_excerpts"}, indent=1))
        return
    if args.what == "reference":  # his recordings only: no model
        result = {"what": "reference", **reference(args.data)}
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(result["pooled"]))
        return
    torch.set_num_threads(1)
    gen = load_generator(None, "cpu")
    preset_w = controls_from(DEFAULT_PRESET).chart_weight
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [preset_w]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    charts = TUNING if args.what == "tune" else REPORT
    if args.what == "texture":
        from tatumflow.bench.common import environment
        from tatumflow.stamp import stamp

        env = environment(torch.device("cpu"), 1)
        which = TUNING if args.tuning_charts else REFERENCE_CHARTS if args.reference_charts else REPORT
        result = {"what": "texture", "charts": which, "seeds": seeds, "choruses": CHORUSES, "preset": DEFAULT_PRESET,
                  "checkpoint": "embedded default", STAMP: stamp(env["git_commit"] or "unknown"),
                  "feel": asdict(feel), "environment": env,
                  **texture(gen, args.data, seeds, which, not args.no_intro, feel)}
        if args.tempo_matched:
            result["tempo_matched"] = tempo_matched(result["runs"], tatum_in_tempo(args.data))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(result, indent=1))
        return
    if args.what == "restyle":  # the restyle rows of an existing report
        result = json.loads(Path(args.json).read_text(encoding="utf-8"))
        result["restyle"] = restyles(gen, seeds, feel if args.no_feel else RESTYLE_FEEL)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        return
    result = {"what": args.what, "charts": charts, "seeds": seeds, "choruses": CHORUSES, "preset": DEFAULT_PRESET,
              "preset_chart_weight": preset_w, "machine": "CPU, 1 torch thread", "feel": asdict(feel), "systems":
              systems(gen, charts, seeds, weights, args.what == "report", not args.no_intro, feel)}
    if args.what == "report":
        result["restyle"] = restyles(gen, seeds, feel if args.no_feel else RESTYLE_FEEL)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
