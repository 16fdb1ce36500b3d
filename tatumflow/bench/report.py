"""Writing a bench result: JSON, a markdown table, a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path

SUMMARY_ROWS = [
    ("notes_per_second", "decode, notes/s (sample 4 fields + 1 cached step)"),
    ("ms_per_note_p50", "decode, ms per note p50"),
    ("ms_per_note_p99", "decode, ms per note p99"),
    ("window_ms_p50", "22-note window, ms p50"),
    ("window_ms_p99", "22-note window, ms p99 (target <= 10 quiet, budget 100)"),
    ("window_ms_p99_before", "22-note window on the decode step it replaced (fdcd752), ms p99"),
    ("window_ms_p99_fp32", "22-note window with fp32 weights (fdcd752's notes exactly; the default streams fp16: "
     "KL < 1e-6 a head), ms p99"),
    ("window_ms_p99_guidance_on", "22-note window with guidance lanes, ms p99"),
    ("real_time_factor_p50", "real-time factor p50 (music s per compute s)"),
    ("reply_ms_p50", "reply: trigger -> first note, ms p50"),
    ("reply_ms_p99", "reply: trigger -> first note, ms p99 (target <= 30)"),
    ("send_jitter_ms_p50", "scheduler send jitter while the model runs, ms p50"),
    ("send_jitter_ms_p99", "scheduler send jitter while the model runs, ms p99"),
    ("engine_reply_ms_p99", "engine (in process): trigger -> first note sent, ms p99"),
    ("jack_reply_ms_p99", "JACK dummy end to end (the model in its own process, as jam runs it): trigger -> first "
                          "note received, ms p99"),
    ("prefill_256_ms_p50", "prefill 256 notes, ms p50"),
    ("prefill_1024_ms_p50", "prefill 1024 notes, or the full context if shorter (JSON: prefill.1024.notes), ms p50"),
    ("ratio_vs_before", "ours / before (the decode step of fdcd752), notes/s (target >= 4)"),
    ("ratio_window_vs_before", "22-note window p99, before / ours"),
    ("ratio_native_vs_torch", "native step / the same step in torch (no C compiler), notes/s"),
    ("quota_skipped_windows", "duet under a CPU quota: skipped windows (target 0)"),
    ("quota_late_notes", "duet under a CPU quota: late notes (target 0)"),
    ("quota_late_notes_same_process", "the same duet, the generator inside the engine's process: late notes"),
    ("quota_skipped_windows_before", "the same duet on the step it replaced: skipped windows"),
    ("quota_late_notes_before", "the same duet on the step it replaced: late notes"),
    ("ratio_fp16_vs_fp32_weights", "fp16 / fp32 weights, notes/s"),
    ("ratio_graphs_vs_no_graphs", "CUDA graphs / eager launches, notes/s"),
    ("ratio_vs_no_cache", "ours / no KV cache, notes/s"),
    ("ratio_vs_notochord", "ours / Notochord (random weights), notes/s (target >= 10)"),
    ("guidance_cost_ratio", "guidance on / off, time per note"),
]
DECODERS = ("ours", "ours_fp16", "ours_fp32", "ours_torch", "ours_compiled", "ours_no_graphs", "before", "no_cache",
            "notochord")


def markdown(result: dict) -> str:
    env, model, s = result["environment"], result["model"], result["summary"]
    lines = [
        f"# TatumFlow bench: {env['device']} ({env['gpu'] or env['cpu']}), {env['threads']} thread(s)",
        "",
        f"commit `{env['git_commit']}`, torch {env['torch']}, load average at start {env['load_average']}; "
        f"model: {model['source']}, {model['parameters'] / 1e6:.1f} M parameters, {model['n_layers']} layers, "
        f"d_model {model['d_model']}, weights {model.get('weights')}",
        "",
        "| measure | value |",
        "| --- | --- |",
    ]
    lines += [f"| {label} | {_fmt(s[key])} |" for key, label in SUMMARY_ROWS if s.get(key) is not None]
    dec = result.get("decode")
    if dec:
        lines += ["", "Side by side, same rounds (interleaved), same 256-note context:", "",
                  "| decoder | notes/s | ms/note p50 | ms/note p99 | notes timed |", "| --- | --- | --- | --- | --- |"]
        for name in DECODERS:
            if name in dec:
                d = dec[name]
                lines.append(f"| {name} | {d['notes_per_second']} | {d['ms_per_note_p50']} | {d['ms_per_note_p99']} "
                             f"| {d['notes']} |")
        if dec.get("notochord_skipped"):
            lines += ["", f"Notochord skipped: {dec['notochord_skipped']}"]
    quota = result.get("quota")
    if isinstance(quota, dict) and "ours" in quota:
        lines += ["", f"Duet of {quota['seconds']:g} s under a CPU quota ({quota['slowdown']:g}x slower):", "",
                  "| lane | windows | degraded | skipped | late notes | notes sent | generation ms p99 |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for lane in ("ours", "same_process", "before"):
            q = quota.get(lane, {})
            if "windows" in q:
                lines.append(f"| {lane} | {q['windows']} | {q['degraded_windows']} | {q['skipped_windows']} | "
                             f"{q['late_notes']} | {q['notes_sent']} | {q['generation_ms_p99']} |")
    for part in ("quality", "jack", "quota"):
        if isinstance(result.get(part), dict) and result[part].get("skipped"):
            lines += ["", f"{part}: skipped ({result[part]['skipped']})"]
    if isinstance(result.get("quality"), dict) and "max_abs_logit_diff" in result["quality"]:
        q = result["quality"]
        lines += ["", f"fp16 weights vs fp32: max |logit diff| {q['max_abs_logit_diff']}, max KL {q['max_kl_nats']} "
                  f"nats, greedy notes identical {q['greedy_notes_identical']}"]
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def plot(result: dict, path: str | Path) -> Path:
    """Model parts: per-note decode of each decoder and the window times; engine parts: jitter and JACK replies."""
    try:
        import matplotlib
    except ImportError as err:
        raise ValueError("a plot needs matplotlib: .venv/bin/python -m pip install matplotlib") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = "decode" in result or "windows" in result
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    (_model_panels if model else _engine_panels)(result, axes)
    env = result["environment"]
    fig.suptitle(f"TatumFlow bench, {env['device']} {env['gpu'] or env['cpu']}, {env['threads']} thread(s), "
                 f"commit {str(env['git_commit'])[:12]}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _model_panels(result: dict, axes) -> None:
    dec = result.get("decode") or {}
    names = [n for n in DECODERS if n in dec]
    if names:
        axes[0].boxplot([dec[n]["ms_per_note"] for n in names], tick_labels=names, whis=(1, 99))
        axes[0].set_yscale("log")
        axes[0].set_ylabel("ms per note (log)")
        axes[0].set_title("decode, one note at a time (whiskers p1-p99)")
    wins = result.get("windows") or {}
    for key, label in (("guidance_off", "guidance off"), ("guidance_on", "guidance on (2 lanes)")):
        if key in wins:
            axes[1].hist(wins[key]["window_ms"], bins=20, alpha=0.6, label=label)
    axes[1].axvline(100, color="red", linestyle="--", label="target p99 100 ms")
    axes[1].set_xlabel("ms per 22-note window")
    axes[1].set_title("Tatum-dense windows (22 notes = 2 s of music)")
    axes[1].legend()


def _engine_panels(result: dict, axes) -> None:
    jitter = (result.get("jitter") or {}).get("send_jitter_ms") or []
    if jitter:
        axes[0].hist(jitter, bins=40)
        axes[0].set_yscale("log")
    axes[0].set_xlabel("|send time - planned time|, ms")
    axes[0].set_title("scheduler send jitter while the model generates")
    jack = result.get("jack") or {}
    replies = jack.get("reply_ms") or []
    if replies:
        axes[1].plot(range(1, len(replies) + 1), replies, "o-")
    axes[1].axhline(30, color="red", linestyle="--", label="target 30 ms")
    axes[1].set_xlabel("phrase")
    axes[1].set_ylabel("ms")
    skipped = " (skipped)" if jack.get("skipped") else ""
    axes[1].set_title("JACK dummy: trigger -> first reply note received" + skipped)
    axes[1].legend()


def write_results(result: dict, json_path: str | Path | None = None, md_path: str | Path | None = None,
                  png_path: str | Path | None = None) -> list[Path]:
    written = []
    if json_path:
        p = Path(json_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        written.append(p)
    if md_path:
        p = Path(md_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(markdown(result), encoding="utf-8")
        written.append(p)
    if png_path:
        written.append(plot(result, png_path))
    return written
