"""`run_bench(BenchConfig) -> dict`: every benchmark in one run, the headline fields on top."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from ..model.checkpoint import resolve_device
from ..presets import load_preset
from ..stamp import STAMP, stamp
from . import decode, engine, quota
from .common import bench_model, environment, transformer_backend

log = logging.getLogger(__name__)

MIN_CONTEXT = 512
PARTS = ("prefill", "decode", "windows", "reply", "guidance", "quality", "jitter", "engine", "jack", "quota")


@dataclass(frozen=True)
class BenchConfig:
    device: str = "cpu"
    threads: int = 1
    checkpoint: str | None = None
    preset: str = "tatum"  # sampling controls of the decode (the default preset: temperature 0.95, top-p 0.95)
    rounds: int = 6  # side-by-side rounds (round 0 extra, as warm-up)
    notes_per_round: int = 32
    windows: int = 20
    reply_trials: int = 20
    notochord: bool = True
    quota_seconds: float = 60.0  # the duet under a CPU quota (quota.py), per lane
    quota_slowdown: float = 3.0  # the quota makes this machine this many times slower
    parts: tuple[str, ...] = PARTS
    quick: bool = False  # tiny counts, for tests and smoke runs

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        unknown = set(self.parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown bench parts {sorted(unknown)}; valid: {', '.join(PARTS)}")
        if not (math.isfinite(self.quota_slowdown) and 1.0 <= self.quota_slowdown <= 20.0):
            raise ValueError(f"quota_slowdown must be in [1, 20], got {self.quota_slowdown!r}")
        if not (math.isfinite(self.quota_seconds) and 1.0 <= self.quota_seconds <= 600.0):
            raise ValueError(f"quota_seconds must be in [1, 600], got {self.quota_seconds!r}")
        if min(self.rounds, self.notes_per_round, self.windows, self.reply_trials) < 1:
            raise ValueError("rounds, notes_per_round, windows and reply_trials must be >= 1")

    def scaled(self) -> BenchConfig:
        if not self.quick:
            return self
        return replace(self, rounds=1, notes_per_round=4, windows=2, reply_trials=2)


def run_bench(config: BenchConfig, progress: Callable[[str], None] = lambda part: None) -> dict:
    cfg = config.scaled()
    device = torch.device(resolve_device(cfg.device))
    torch.set_num_threads(cfg.threads)
    bm = bench_model(cfg.checkpoint, str(device))
    if bm.model.cfg.context_steps < MIN_CONTEXT:
        raise ValueError(f"the bench plays {MIN_CONTEXT // 2}-note prompts and windows after them: it needs a model "
                         f"with a context of >= {MIN_CONTEXT} notes; this checkpoint's is {bm.model.cfg.context_steps}")
    controls = replace(load_preset(cfg.preset).controls, style={bm.style: 1.0})
    result: dict = {"environment": environment(device, cfg.threads), "model": bm.describe(),
                    "controls": {"preset": cfg.preset, "temperature": controls.temperature,
                                 "top_p": [controls.nucleus(k) for k in range(4)]},
                    "config": asdict(cfg)}
    gen = bm.generator(str(device))
    result["model"]["weights"] = transformer_backend(gen).weights
    quick = cfg.quick
    steps: dict[str, Callable[[], object]] = {
        "prefill": lambda: {str(n): decode.prefill_ms(bm, gen, n, 2 if quick else 5, device) for n in (256, 1024)},
        "decode": lambda: decode.side_by_side(bm, device, controls, cfg.rounds, cfg.notes_per_round,
                                              notochord=cfg.notochord),
        "windows": lambda: {"guidance_off": decode.windows(bm, device, controls, cfg.windows),
                            "guidance_on": decode.windows(bm, device, controls, max(cfg.windows // 2, 1),
                                                          lanes_guidance=2.0),
                            "before": decode.windows(bm, device, controls, cfg.windows, before=True),
                            **({"fp32": decode.windows(bm, device, controls, cfg.windows, weights="fp32")}
                               if device.type == "cpu" else {})},
        "reply": lambda: decode.reply(bm, device, controls, cfg.reply_trials),
        "guidance": lambda: decode.guidance_lanes(bm, device, controls, cfg.rounds, cfg.notes_per_round),
        "quality": lambda: decode.fp16_quality(bm, device, controls, 40 if quick else 200),
        "jitter": lambda: engine.scheduler_jitter(bm, str(device), controls, 1.0 if quick else 12.0),
        "engine": lambda: engine.engine_session(bm, str(device), 1 if quick else 4, cfg.preset),
        "jack": lambda: engine.jack_end_to_end(bm, str(device), 1 if quick else 4, cfg.preset),
        "quota": lambda: quota.quota_lanes(cfg.checkpoint, 5.0 if quick else cfg.quota_seconds, cfg.quota_slowdown)
        if device.type == "cpu" else {"skipped": "the CPU quota lane runs on the CPU"},
    }
    for part in PARTS:
        if part in cfg.parts:
            progress(part)
            log.info("bench: %s", part)
            result[part] = steps[part]()
    result["summary"] = summary(result)
    if cfg.checkpoint is None and bm.source.startswith("checkpoint"):  # the embedded default: say which weights
        result[STAMP] = stamp(result["environment"]["git_commit"] or "unknown")
    # The headline numbers also at the top level, beside the git commit (where a reader looks first).
    return {"git_commit": result["environment"]["git_commit"], **result["summary"], **result}


def _get(d: dict, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _ratio(a, b) -> float | None:
    return round(a / b, 2) if a and b else None


def summary(r: dict) -> dict:
    """The headline fields (None where a part did not run or was skipped)."""
    ours = _get(r, "decode", "ours", "notes_per_second")
    jitter = _get(r, "jitter", "send_jitter_ms_p99")
    engine_jitter = _get(r, "engine", "send_jitter_ms_p99")
    return {
        "notes_per_second": ours,
        "ms_per_note_p50": _get(r, "decode", "ours", "ms_per_note_p50"),
        "ms_per_note_p99": _get(r, "decode", "ours", "ms_per_note_p99"),
        "window_ms_p50": _get(r, "windows", "guidance_off", "window_ms_p50"),
        "window_ms_p99": _get(r, "windows", "guidance_off", "window_ms_p99"),
        "window_ms_p99_guidance_on": _get(r, "windows", "guidance_on", "window_ms_p99"),
        "window_ms_p99_before": _get(r, "windows", "before", "window_ms_p99"),
        "window_ms_p99_fp32": _get(r, "windows", "fp32", "window_ms_p99"),
        "quota_skipped_windows": _get(r, "quota", "ours", "skipped_windows"),
        "quota_late_notes": _get(r, "quota", "ours", "late_notes"),
        "quota_late_notes_same_process": _get(r, "quota", "same_process", "late_notes"),
        "quota_skipped_windows_before": _get(r, "quota", "before", "skipped_windows"),
        "quota_late_notes_before": _get(r, "quota", "before", "late_notes"),
        "real_time_factor_p50": _get(r, "windows", "guidance_off", "real_time_factor_p50"),
        "reply_ms_p50": _get(r, "reply", "reply_ms_p50"),
        "reply_ms_p99": _get(r, "reply", "reply_ms_p99"),
        "send_jitter_ms_p50": _get(r, "jitter", "send_jitter_ms_p50"),
        "send_jitter_ms_p99": jitter if jitter is not None else engine_jitter,
        "engine_send_jitter_ms_p99": engine_jitter,
        "engine_reply_ms_p99": _get(r, "engine", "reply_ms_p99"),
        "jack_reply_ms_p99": _get(r, "jack", "reply_ms_p99"),
        "prefill_256_ms_p50": _get(r, "prefill", "256", "ms_p50"),
        "prefill_1024_ms_p50": _get(r, "prefill", "1024", "ms_p50"),
        "ratio_vs_no_cache": _ratio(ours, _get(r, "decode", "no_cache", "notes_per_second")),
        "ratio_vs_notochord": _ratio(ours, _get(r, "decode", "notochord", "notes_per_second")),
        "ratio_vs_before": _ratio(ours, _get(r, "decode", "before", "notes_per_second")),
        "ratio_fp16_vs_fp32_weights": _ratio(_get(r, "decode", "ours_fp16", "notes_per_second"),
                                             _get(r, "decode", "ours_fp32", "notes_per_second")),
        "ratio_graphs_vs_no_graphs": _ratio(ours, _get(r, "decode", "ours_no_graphs", "notes_per_second")),
        "guidance_cost_ratio": _get(r, "guidance", "cost_ratio_on_vs_off"),
    }
