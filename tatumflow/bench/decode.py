"""Model benchmarks: prefill, per-note decode side by side, Tatum-dense windows, reply latency, guidance lanes.

Every figure is a distribution over repeated runs after a warm-up; ratios come from decoders timed in the same
rounds, interleaved, so that machine load hits all of them alike.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch

from ..generate.controls import Controls
from ..generate.generator import ChunkedGenerator
from ..generate.inference import InferenceModel, fp16_weights_available
from ..model.kvcache import KVCache
from ..notes import Note
from .common import BenchModel, dense_prompt, percentiles, timed_call, timed_ms, transformer_backend
from .peers import CachedDecoder, NoCacheDecoder, NotochordDecoder, TimedDecoder, load_notochord

log = logging.getLogger(__name__)

WINDOW_NOTES = 22  # Tatum plays ~10-11 notes/s: a 2 s window holds ~22 notes
WINDOW_S = 2.0


def prefill_ms(bm: BenchModel, gen: ChunkedGenerator, n_notes: int, repeats: int, device: torch.device) -> dict:
    """Time to put `n_notes` notes (plus the start step) into an empty cache in one prefill."""
    n_notes = min(n_notes, bm.model.cfg.context_steps - 1)
    controls = Controls(style={bm.style: 1.0})
    steps = gen.tokenizer.steps_after(None, dense_prompt(n_notes))
    backend = gen.backend
    caches = [backend.new_cache(1) for _ in range(2)]
    times = []
    for i in range(repeats + 1):
        cache = caches[i % 2]
        backend.truncate(cache, 0)
        t = timed_ms(partial(backend.feed, cache, steps, controls), device)
        if i:  # the first is warm-up
            times.append(t)
    return {"notes": n_notes, **percentiles(times, "ms", (50, 99))}


def side_by_side(bm: BenchModel, device: torch.device, controls: Controls, rounds: int, notes_per_round: int,
                 prompt_notes: int = 256, notochord: bool = True) -> dict:
    """Per-note decode of each decoder from the same context, interleaved round by round."""
    prompt = dense_prompt(prompt_notes)
    dev = str(device)
    decoders: dict[str, TimedDecoder] = {"ours": CachedDecoder(bm.generator(dev), prompt, controls, device)}
    if device.type == "cpu":  # both weight formats, whichever "ours" picked (the pair gives the fp16/fp32 ratio)
        formats = ("fp32", "fp16") if fp16_weights_available() else ("fp32",)
        for w in formats:
            decoders[f"ours_{w}"] = CachedDecoder(bm.generator(dev, weights=w), prompt, controls, device)
    else:  # the graphed steps compiled first (fused kernels); and no graphs: eager launches, sampling on the host
        decoders["ours_compiled"] = CachedDecoder(bm.generator(dev, step_path="compiled"), prompt, controls, device)
        decoders["ours_no_graphs"] = CachedDecoder(bm.generator(dev, step_path="dynamic"), prompt, controls, device)
    decoders["before"] = CachedDecoder(bm.generator(dev, fast=False), prompt, controls, device)
    decoders["no_cache"] = NoCacheDecoder(bm, bm.generator(dev), prompt, controls, device)
    skipped: str | None = "Notochord comparison switched off (--no-notochord)"
    if notochord:
        skipped = _add_notochord(decoders, prompt, device)
    counts = {name: notes_per_round for name in decoders}
    counts.update(no_cache=max(notes_per_round // 8, 2), notochord=max(notes_per_round // 2, 4))
    out: dict = {"prompt_notes": prompt_notes, "rounds": rounds, "notochord_skipped": skipped}
    for name, ms in interleaved(decoders, counts, rounds).items():
        out[name] = {"notes": len(ms), "notes_per_second": round(1e3 * len(ms) / sum(ms), 1),
                     **percentiles(ms, "ms_per_note", (50, 99)), "ms_per_note": [round(x, 3) for x in ms]}
    noto = decoders.get("notochord")
    if isinstance(noto, NotochordDecoder):
        out["notochord"]["parameters"] = noto.parameters
    return out


def _add_notochord(decoders: dict[str, TimedDecoder], prompt: list[Note], device: torch.device) -> str | None:
    """Add Notochord to `decoders`; None, or why it is skipped."""
    cls = load_notochord()
    if isinstance(cls, str):
        log.warning("skipping the Notochord comparison: %s", cls)
        return cls
    try:
        decoders["notochord"] = NotochordDecoder(cls, prompt, device)
        decoders["notochord"].note()
    except Exception as err:  # e.g. a device its code does not support: skip, say why
        decoders.pop("notochord", None)
        skipped = f"Notochord failed on {device} ({type(err).__name__}: {err})"
        log.warning("skipping the Notochord comparison: %s", skipped)
        return skipped
    return None


def interleaved(decoders: dict[str, TimedDecoder], counts: dict[str, int], rounds: int) -> dict[str, list[float]]:
    """ms per note of each decoder: every round, each decoder in turn plays its count from its context (round 0 is
    warm-up), so that machine load hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for r in range(rounds + 1):
        for name, dec in decoders.items():
            dec.reset()
            ms = [dec.note() for _ in range(counts[name])]
            if r:
                times[name].extend(ms)
    return times


def windows(bm: BenchModel, device: torch.device, controls: Controls, n_windows: int, prompt_notes: int = 256,
            lanes_guidance: float = 1.0) -> dict:
    """Fixed 22-note windows through `generate_chunk`, one after another from a dense prompt (context grows)."""
    gen = bm.generator(str(device))
    c = replace(controls, guidance=lanes_guidance, max_notes_per_window=WINDOW_NOTES, window_s=60.0)
    state = gen.init_state(dense_prompt(prompt_notes), c)
    room = bm.model.cfg.context_steps - 1 - prompt_notes
    n_windows = min(n_windows, max(room // WINDOW_NOTES - 1, 1))
    times, notes = [], []
    for i in range(n_windows + 1):
        (out, _), t = timed_call(partial(gen.generate_chunk, state, [], c), device)
        if i:
            times.append(t)
            notes.append(len(out))
    per_note = [t / max(n, 1) for t, n in zip(times, notes)]
    res: dict[str, Any] = {"windows": len(times), "notes_per_window_mean": round(float(np.mean(notes)), 2),
           **percentiles(times, "window_ms"), **percentiles(per_note, "ms_per_note", (50, 99))}
    # Music seconds per compute second, as the engine's report (> 1: faster than real time).
    res["real_time_factor_p50"] = round(WINDOW_S * 1e3 / res["window_ms_p50"], 2)
    res["real_time_factor_p99"] = round(WINDOW_S * 1e3 / res["window_ms_p99"], 2)
    res["window_ms"] = [round(x, 3) for x in times]
    return res


def reply(bm: BenchModel, device: torch.device, controls: Controls, trials: int, phrase_notes: int = 24,
          context_notes: int = 256, first_window_notes: int = 5) -> dict:
    """The call-response path: the human's phrase is absorbed note by note while they play (timed per note), then
    at the trigger the first reply note is sampled (and fed); also the first 0.5 s (~5 notes) of the reply."""
    gen = bm.generator(str(device))
    history = dense_prompt(context_notes + phrase_notes, seed=1)
    context, phrase = history[:context_notes], history[context_notes:]
    base = gen.init_state(context, controls)
    absorb_ms, first_ms, window_ms = [], [], []
    for i in range(trials + 1):
        state = base.copy()
        absorb = [timed_ms(partial(gen.absorb, state, [n], controls), device) for n in phrase]
        trigger = phrase[-1].onset_s + 0.5
        one = replace(controls, max_notes_per_window=1, window_s=60.0, seed=controls.seed + i)
        first = timed_ms(partial(gen.generate_chunk, state, [], one, start_s=trigger, end_s=trigger + 60.0), device)
        more = replace(one, max_notes_per_window=first_window_notes - 1)
        rest = timed_ms(partial(gen.generate_chunk, state, [], more), device)
        if i:
            absorb_ms.extend(absorb)
            first_ms.append(first)
            window_ms.append(first + rest)
    return {"trials": trials, "phrase_notes": phrase_notes, **percentiles(absorb_ms, "absorb_ms_per_note", (50, 99)),
            **percentiles(first_ms, "reply_ms", (50, 99)),
            **percentiles(window_ms, f"first_{first_window_notes}_notes_ms", (50, 99))}


def guidance_lanes(bm: BenchModel, device: torch.device, controls: Controls, rounds: int, notes_per_round: int) -> dict:
    """Per-note decode with classifier-free guidance off (1 lane) and on (2 lanes, batched), interleaved."""
    prompt = dense_prompt(256)
    decs: dict[str, TimedDecoder] = {
        "off": CachedDecoder(bm.generator(str(device)), prompt, replace(controls, guidance=1.0), device),
        "on": CachedDecoder(bm.generator(str(device)), prompt, replace(controls, guidance=2.0), device)}
    out: dict[str, Any] = {}
    for name, ms in interleaved(decs, {k: notes_per_round for k in decs}, rounds).items():
        out[name] = {"notes_per_second": round(1e3 * len(ms) / sum(ms), 1), **percentiles(ms, "ms_per_note", (50, 99))}
    out["cost_ratio_on_vs_off"] = round(out["off"]["notes_per_second"] / out["on"]["notes_per_second"], 3)
    return out


def _prepared(gen: ChunkedGenerator) -> InferenceModel:
    """The prepared inference model of `gen`'s backend (built with fast=True, `BenchModel.generator`'s default)."""
    infer = transformer_backend(gen).infer
    if infer is None:
        raise ValueError("fp16_quality needs the prepared inference path (fast=True)")
    return infer


@torch.inference_mode()
def fp16_quality(bm: BenchModel, device: torch.device, controls: Controls, notes: int = 200) -> dict:
    """How far the fp16-weight path is from fp32: logits over a dense context, and greedy agreement."""
    if device.type != "cpu":
        return {"skipped": "fp16 weights are a CPU path"}
    gens = {w: bm.generator("cpu", weights=w) for w in ("fp32", "fp16")}
    if transformer_backend(gens["fp16"]).weights != "fp16":
        return {"skipped": "this CPU/torch has no fbgemm fp16 kernels"}
    steps = torch.as_tensor(bm.tokenizer.steps_after(None, dense_prompt(notes, seed=2)))[None]
    style = transformer_backend(gens["fp32"]).style_vectors(Controls(style={bm.style: 1.0}), 1)
    diffs, kls = [], []
    caches = {}
    infers = {w: _prepared(gen) for w, gen in gens.items()}
    for w, infer in infers.items():
        caches[w] = KVCache(bm.model.cfg, 1)
        infer.prefill(caches[w], steps, style)
    h32, h16 = caches["fp32"].hidden[:, : notes + 1], caches["fp16"].hidden[:, : notes + 1]
    for k in range(4):
        a = infers["fp32"].head_logits(k, h32.reshape(-1, h32.shape[-1]))
        b = infers["fp16"].head_logits(k, h16.reshape(-1, h16.shape[-1]))
        diffs.append(float((a - b).abs().max()))
        pa, pb = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
        kls.append(float((pa.exp() * (pa - pb)).sum(-1).max()))
    greedy = replace(controls, top_k=1, max_notes_per_window=64, window_s=60.0)
    outs = [g.generate_chunk(g.init_state(dense_prompt(64, seed=3), greedy), [], greedy)[0] for g in gens.values()]
    n = min(map(len, outs))
    same = next((i for i, (a, b) in enumerate(zip(*outs)) if a != b), n)  # identical prefix
    return {"max_abs_logit_diff": round(max(diffs), 6), "max_kl_nats": float(f"{max(kls):.3g}"),
            "greedy_notes_identical": f"{same}/{n}"}
