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
from ..generate.window import Window
from ..model.kvcache import KVCache
from ..notes import Note
from .common import BenchModel, dense_prompt, percentiles, timed_call, timed_ms, transformer_backend
from .legacy import BEFORE_COMMIT, LegacyUnavailable, legacy_controls, legacy_generator_for
from .peers import CachedDecoder, NoCacheDecoder, NotochordDecoder, TimedDecoder, legacy_decoder, load_notochord

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
    if device.type == "cpu":  # both weight formats, whichever "ours" picked; and the torch step (no C compiler)
        for w in ("fp32", "fp16"):
            decoders[f"ours_{w}"] = CachedDecoder(bm.generator(dev, weights=w), prompt, controls, device)
        decoders["ours_torch"] = CachedDecoder(bm.generator(dev, step_path="dynamic", weights="fp32"), prompt,
                                               controls, device)
    else:  # the graphed steps compiled first (fused kernels); and no graphs: eager launches, sampling on the host
        decoders["ours_compiled"] = CachedDecoder(bm.generator(dev, step_path="compiled"), prompt, controls, device)
        decoders["ours_no_graphs"] = CachedDecoder(bm.generator(dev, step_path="dynamic"), prompt, controls, device)
    before = legacy_decoder(bm, prompt, controls, device)
    if isinstance(before, TimedDecoder):
        decoders["before"] = before
    decoders["no_cache"] = NoCacheDecoder(bm, bm.generator(dev), prompt, controls, device)
    skipped: str | None = "Notochord comparison switched off (--no-notochord)"
    if notochord:
        skipped = _add_notochord(decoders, prompt, device)
    counts = {name: notes_per_round for name in decoders}
    counts.update(no_cache=max(notes_per_round // 8, 2), notochord=max(notes_per_round // 2, 4))
    out: dict = {"prompt_notes": prompt_notes, "rounds": rounds, "notochord_skipped": skipped,
                 "before": {"skipped": before} if isinstance(before, str) else {"commit": BEFORE_COMMIT}}
    for name, ms in interleaved(decoders, counts, rounds).items():
        out[name] = {**out.get(name, {}),"notes": len(ms), "notes_per_second": round(1e3 * len(ms) / sum(ms), 1),
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
            lanes_guidance: float = 1.0, before: bool = False, weights: str = "auto") -> dict:
    """Fixed 22-note windows through `generate_chunk`, one after another from a dense prompt (context grows).
    `before`: on the decode step this one replaced (bench/legacy.py), or why it is unavailable; `weights`: the
    backend's weight format."""
    c: Any = replace(controls, guidance=lanes_guidance, window_s=60.0)
    window = Window(max_notes=WINDOW_NOTES)
    if before:
        try:
            gen: Any = legacy_generator_for(bm.model, bm.tokenizer, bm.styles, str(device))
        except LegacyUnavailable as err:
            return {"skipped": str(err)}
        c = legacy_controls(c, window)
        chunk = partial(gen.generate_chunk, human_notes=[], controls=c)
    else:
        gen = bm.generator(str(device), weights=weights)
        chunk = partial(gen.generate_chunk, human_notes=[], controls=c, window=window)
    state = gen.init_state(dense_prompt(prompt_notes), c)
    room = bm.model.cfg.context_steps - 1 - prompt_notes
    n_windows = min(n_windows, max(room // WINDOW_NOTES - 1, 1))
    times, notes = [], []
    for i in range(n_windows + 1):
        (out, _), t = timed_call(partial(chunk, state), device)
        if i:
            times.append(t)
            notes.append(len(out))
    per_note = [t / max(n, 1) for t, n in zip(times, notes)]
    res: dict[str, Any] = {"windows": len(times), "notes_per_window_mean": round(float(np.mean(notes)), 2),
                           "step_path": getattr(gen.backend, "step_path", None),
                           "weights": getattr(gen.backend, "weights", None),
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
        one = Window(trigger, trigger + 60.0, max_notes=1, seed=i)
        first = timed_ms(partial(gen.generate_chunk, state, [], controls, one), device)
        more = Window(max_notes=first_window_notes - 1, seed=i)
        rest = timed_ms(partial(gen.generate_chunk, state, [], replace(controls, window_s=60.0), more), device)
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


@torch.inference_mode()
def fp16_quality(bm: BenchModel, device: torch.device, controls: Controls, notes: int = 200) -> dict:
    """How far fp16 weights move the model from fp32: the same steps fed one by one through both decode steps
    (the CPU default's: native, else torch), each head's largest logit difference and KL at every step, and how
    long greedy decoding from the same context stays note for note the same."""
    if device.type != "cpu":
        return {"skipped": "fp16 weights are a CPU path"}
    gens = {w: bm.generator("cpu", weights=w) for w in ("fp32", "fp16")}
    backends = {w: transformer_backend(g) for w, g in gens.items()}
    if backends["fp16"].weights != "fp16":
        return {"skipped": "this CPU/torch has no fp16 decode path"}
    plain = Controls(style={bm.style: 1.0})
    states = {w: g.init_state(dense_prompt(64, seed=2), plain) for w, g in gens.items()}
    steps = bm.tokenizer.steps_after(states["fp32"].context[-1].onset_s, dense_prompt(notes, start_s=60.0, seed=2))
    diffs, kls = [0.0] * 4, [0.0] * 4
    for step in steps:
        logits = {}
        for w, backend in backends.items():
            backend.feed(states[w].cache, step[None], plain)
            logits[w] = _head_logits(backend, states[w].cache)
        for k in range(4):
            a, b = logits["fp32"][k], logits["fp16"][k]
            diffs[k] = max(diffs[k], float((a - b).abs().max()))
            pa, pb = torch.log_softmax(a, -1), torch.log_softmax(b, -1)
            kls[k] = max(kls[k], float((pa.exp() * (pa - pb)).sum(-1).max()))
    greedy = replace(controls, top_k=1, window_s=60.0)
    outs = [g.generate_chunk(g.init_state(dense_prompt(64, seed=3), greedy), [], greedy, Window(max_notes=64))[0]
            for g in gens.values()]
    n = min(map(len, outs))
    same = next((i for i, (a, b) in enumerate(zip(*outs)) if a != b), n)  # identical prefix
    return {"step_path": backends["fp16"].step_path, "steps": len(steps),
            "max_abs_logit_diff": round(max(diffs), 6), "max_kl_nats": float(f"{max(kls):.3g}"),
            "max_kl_nats_per_head": [float(f"{x:.3g}") for x in kls], "greedy_notes_identical": f"{same}/{n}"}


def _head_logits(backend: Any, cache: KVCache) -> list[torch.Tensor]:
    """The four heads' logits (float64) on the last hidden state, the later heads conditioned on field 0."""
    h = cache.hidden[:, cache.length - 1].contiguous()
    out = []
    for k in range(4):
        if backend.native is not None:
            out.append(torch.from_numpy(backend.native.head_logits(cache, k, h.numpy()).copy()).double())
        else:
            out.append(backend.net.head_logits(k, h).double())
    return out
