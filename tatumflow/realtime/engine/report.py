"""The session report: what the engine did and how fast, printed and as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ...stats import percentile
from .reservoir import Reservoir

if TYPE_CHECKING:
    from .scheduler import SendStats


@dataclass
class SessionStats:
    """Counters the engine and the scheduler fill during a session."""

    mode: str = "call-response"
    generation_ms: list[float] = field(default_factory=list)  # wall time per generated window
    window_music_s: list[float] = field(default_factory=list)  # length of music each window covered
    # a reply's timing (outbox.ReplyTimes): what the player hears is phrase_to_reply = the silence threshold + the
    # wait for the beat + the engine's latency; reply_ms (kept for old readers) = beat wait + engine latency
    reply_ms: list[float] = field(default_factory=list)  # trigger (silence threshold reached) -> first note sent
    phrase_to_reply_ms: list[float] = field(default_factory=list)  # the human's last release -> first reply note
    beat_wait_ms: list[float] = field(default_factory=list)  # trigger -> the first beat after it (0 without a grid)
    engine_latency_ms: list[float] = field(default_factory=list)  # that beat -> first note sent (the engine late)
    replies: int = 0
    barge_ins: int = 0
    degraded_windows: int = 0
    skipped_windows: int = 0
    dropped_notes: int = 0  # dropped by the engine (generated too late to be sent on time)
    human_notes: int = 0
    input_messages: int = 0  # every message the input handed over (echoes and clock included)
    input_lost: int = 0  # messages the input could not keep (JACK read by jack_midi_dump: its ring was full)
    echoes_suppressed: int = 0
    keyboard_disconnects: int = 0
    server_losses: int = 0  # the MIDI (JACK) server went away
    duration_s: float = 0.0
    model: str = "mock"
    # time (tempo.py): the source followed, its tempo at each change, model onsets and reply starts vs the grid
    tempo_source: str = "off"
    tempo_bpm: list[float] = field(default_factory=list)
    beat_alignment_ms: list[float] = field(default_factory=Reservoir)  # onset -> nearest 16th / 8th-triplet position
    beat_alignment_beats: list[float] = field(default_factory=Reservoir)
    reply_beat_offset_ms: list[float] = field(default_factory=list)  # a reply's first note -> nearest beat (signed)
    # trade (trade.py): answers heard, turns the player kept, each answer's first note -> its bar line (signed)
    trades: int = 0
    trades_kept: int = 0
    trade_start_ms: list[float] = field(default_factory=list)


def build_report(stats: SessionStats, send: SendStats, stuck_notes: int = 0) -> dict:
    """The JSON report. `send` is the scheduler's `SendStats`."""
    gen_s = sum(stats.generation_ms) / 1e3
    jitter = [abs(x) for x in send.lateness_ms]
    return {
        "mode": stats.mode,
        "model": stats.model,
        "duration_s": round(stats.duration_s, 3),
        "windows": len(stats.generation_ms),
        "generation_ms_p50": percentile(stats.generation_ms, 50),
        "generation_ms_p99": percentile(stats.generation_ms, 99),
        # seconds of music generated per second of compute (> 1: faster than real time)
        "realtime_factor": round(sum(stats.window_music_s) / gen_s, 2) if gen_s > 0 else None,
        "replies": stats.replies,
        "reply_ms_p50": percentile(stats.reply_ms, 50),
        "reply_ms_p99": percentile(stats.reply_ms, 99),
        "phrase_to_reply_ms_p50": percentile(stats.phrase_to_reply_ms, 50),
        "phrase_to_reply_ms_p99": percentile(stats.phrase_to_reply_ms, 99),
        "beat_wait_ms_p50": percentile(stats.beat_wait_ms, 50),
        "beat_wait_ms_p99": percentile(stats.beat_wait_ms, 99),
        "engine_latency_ms_p50": percentile(stats.engine_latency_ms, 50),
        "engine_latency_ms_p99": percentile(stats.engine_latency_ms, 99),
        "send_jitter_ms_p50": percentile(jitter, 50),
        "send_jitter_ms_p99": percentile(jitter, 99),
        "notes_sent": send.sent_notes,
        "late_notes": send.late_notes,
        "dropped_notes": send.dropped_notes + stats.dropped_notes,
        "degraded_windows": stats.degraded_windows,
        "skipped_windows": stats.skipped_windows,
        "barge_ins": stats.barge_ins,
        "human_notes": stats.human_notes,
        "input_messages": stats.input_messages,
        "input_lost": stats.input_lost,
        "echoes_suppressed": stats.echoes_suppressed,
        "keyboard_disconnects": stats.keyboard_disconnects,
        "undelivered_notes": send.undelivered_notes,
        "server_losses": stats.server_losses,
        "stuck_notes": stuck_notes,
        **time_report(stats),
        **trade_report(stats),
    }


def trade_report(stats: SessionStats) -> dict:
    """Trading (jam --mode trade): how many answers, how many turns the player kept, and how far each answer's
    first note was from its bar line (absolute, ms)."""
    offsets = [abs(x) for x in stats.trade_start_ms]
    return {
        "trades": stats.trades,
        "trades_kept": stats.trades_kept,
        "trade_start_ms_p50": percentile(offsets, 50),
        "trade_start_ms_max": round(float(max(offsets)), 2) if offsets else None,
    }


def time_report(stats: SessionStats) -> dict:
    """The tempo followed, and how the model's onsets and reply starts sit on its grid."""
    offsets = [abs(x) for x in stats.reply_beat_offset_ms]
    return {
        "tempo_source": stats.tempo_source,
        "tempo_bpm_last": round(float(stats.tempo_bpm[-1]), 2) if stats.tempo_bpm else None,
        "tempo_bpm_median": percentile(stats.tempo_bpm, 50),
        "beat_alignment_ms_p50": percentile(stats.beat_alignment_ms, 50),
        "beat_alignment_ms_p90": percentile(stats.beat_alignment_ms, 90),
        "beat_alignment_beats_p50": percentile(stats.beat_alignment_beats, 50),
        "reply_beat_offset_ms_p50": percentile(offsets, 50),
        "reply_beat_offset_ms_max": round(float(max(offsets)), 2) if offsets else None,
    }


def format_report(report: dict) -> str:
    def ms(key: str) -> str:
        v = report.get(key)  # .get: a report written before a key existed still prints
        return "-" if v is None else f"{v:.1f} ms"

    return "\n".join([
        f"TatumFlow session: {report['mode']}, {report['duration_s']:.1f} s, model {report['model']}",
        f"  windows {report['windows']}  generation p50 {ms('generation_ms_p50')}  p99 {ms('generation_ms_p99')}"
        f"  real-time factor {str(report['realtime_factor']) + 'x' if report['realtime_factor'] else '-'}",
        f"  replies {report['replies']}  heard after your phrase p50 {ms('phrase_to_reply_ms_p50')}"
        f"  p99 {ms('phrase_to_reply_ms_p99')}",
        f"    = the silence threshold + wait for the beat p50 {ms('beat_wait_ms_p50')}"
        f" + engine latency p50 {ms('engine_latency_ms_p50')}  p99 {ms('engine_latency_ms_p99')}",
        f"  send jitter p50 {ms('send_jitter_ms_p50')}  p99 {ms('send_jitter_ms_p99')}",
        f"  notes sent {report['notes_sent']}  late {report['late_notes']}  dropped {report['dropped_notes']}"
        f"  degraded windows {report['degraded_windows']}  skipped {report['skipped_windows']}"
        f"  stuck {report['stuck_notes']}",
        f"  input messages {report['input_messages']}  lost {report['input_lost']}"
        f"  human notes {report['human_notes']}",
        f"  tempo {report['tempo_source']}  bpm last {report['tempo_bpm_last'] or '-'}"
        f"  median {report['tempo_bpm_median'] or '-'}  onsets vs grid p50 {ms('beat_alignment_ms_p50')}"
        f"  p90 {ms('beat_alignment_ms_p90')}  reply start vs beat p50 {ms('reply_beat_offset_ms_p50')}"
        f"  max {ms('reply_beat_offset_ms_max')}",
        *([f"  trades {report['trades']}  kept by you {report.get('trades_kept', 0)}  first note vs bar line"
           f" p50 {ms('trade_start_ms_p50')}  max {ms('trade_start_ms_max')}"] if report.get("trades") else []),
    ])


def write_report(report: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a report written mid-session is whole whenever the process dies
    return path
