"""Engine settings: one frozen dataclass, validated, loadable from a preset's `[engine]` table."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from ...fieldcheck import check_fields
from ...files import clip, quote
from ...generate.window import MAX_SEED

MODES = ("call-response", "duet", "continue", "trade")  # trade: with a chart (trade.py)


# The largest sane value of each number (a minute of silence, ten seconds of budget, a second between polls).
_HIGHEST = {"silence_threshold_s": 60.0, "latency_budget_ms": 10_000.0, "safety_margin_ms": 1_000.0,
            "drop_tolerance_ms": 10_000.0, "late_threshold_ms": 10_000.0, "min_reply_s": 600.0, "max_reply_s": 600.0,
            "reply_ratio": 100.0, "first_notes": 1_000, "hold_grace_s": 600.0, "echo_window_ms": 10_000.0,
            "poll_ms": 1_000.0, "torch_threads": 1_024, "trade_bars": 32}


@dataclass(frozen=True)
class EngineConfig:
    """How the engine listens, answers and keeps time.

    A reply starts `silence_threshold_s` after the human's last key release (the sustain pedal may still be down: a
    phrase ends when the hands leave the keys) and lasts `reply_ratio` times the phrase, clamped to
    [min_reply_s, max_reply_s]; keys still held `hold_grace_s` past the threshold with no new note are answered
    anyway (`continue` plays on until the human plays again). A reply's first
    chunk is its first `first_notes` notes (a few decode steps, generated just before the threshold), pulled so that
    the first one sounds right at the threshold. A window's generation may take at
    most `latency_budget_ms`, and its notes must be planned `safety_margin_ms` before they sound; past that the engine
    degrades (shorter window, fewer notes, skip). A note later than `drop_tolerance_ms` at send time is dropped.
    In `trade` (a chart's form, trade.py) the player and TatumFlow take turns of `trade_bars` bars (0: a chorus).
    Over a chart every window samples with the feel over a chart on top of the live controls (`chart_feel`;
    liveform.py, tunes/feel.py; `jam --no-feel`: the live controls as they are).
    """

    mode: str = "call-response"
    silence_threshold_s: float = 0.5
    latency_budget_ms: float = 100.0
    safety_margin_ms: float = 10.0
    drop_tolerance_ms: float = 20.0
    late_threshold_ms: float = 2.0
    min_reply_s: float = 1.5
    max_reply_s: float = 8.0
    reply_ratio: float = 1.0
    first_notes: int = 4
    hold_grace_s: float = 2.0
    echo_window_ms: float = 30.0  # a JACK period of 1024 frames at 48 kHz alone is 21 ms
    poll_ms: float = 4.0
    channel: int = 0
    human_channel: int = 1
    torch_threads: int = 1
    trade_bars: int = 4
    seed: int = 0  # the session's seed: window i samples with seed + i (generate/window.py)
    chart_feel: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {quote(self.mode)}; valid modes: {', '.join(MODES)}")
        positive = ("silence_threshold_s", "latency_budget_ms", "drop_tolerance_ms", "min_reply_s", "reply_ratio",
                    "first_notes", "poll_ms")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("safety_margin_ms", "late_threshold_ms", "hold_grace_s", "echo_window_ms", "torch_threads",
                     "trade_bars"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.max_reply_s < self.min_reply_s:
            raise ValueError(f"max_reply_s ({self.max_reply_s}) must be >= min_reply_s ({self.min_reply_s})")
        if self.drop_tolerance_ms < self.late_threshold_ms:
            raise ValueError("drop_tolerance_ms must be >= late_threshold_ms")
        for name, high in _HIGHEST.items():  # also refuses nan, which passes `x < 0`
            if not getattr(self, name) <= high:
                raise ValueError(f"{name} must be <= {high:g}, got {getattr(self, name)!r}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed!r}")
        for name in ("channel", "human_channel"):
            if not 0 <= getattr(self, name) <= 15:
                raise ValueError(f"{name} must be a MIDI channel 0..15, got {getattr(self, name)!r}")

    @property
    def safety_margin_s(self) -> float:
        return self.safety_margin_ms / 1e3

    @property
    def latency_budget_s(self) -> float:
        return self.latency_budget_ms / 1e3

    @classmethod
    def from_table(cls, table: Any, where: str = "[engine]") -> EngineConfig:
        """From a preset's `[engine]` table: names and types checked field by field, then the values."""
        checked = check_fields(cls, table, where)
        try:
            return cls(**checked)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {clip(str(err), 300)}") from err

    @classmethod
    def from_preset(cls, engine: dict[str, Any], **overrides: Any) -> EngineConfig:
        """From a preset's `[engine]` table (checked: `from_table`); `overrides` that are not None win."""
        config = cls.from_table(engine)
        return replace(config, **{k: v for k, v in overrides.items() if v is not None})


class Settings:
    """The session's one `EngineConfig`, shared by every part that reads it (the engine, the mode, the context, the
    outbox). `update` replaces it whole; a reader takes `current` when it needs a value and keeps no copy, so a live
    change (a knob, a mode switch) reaches every part at its next read."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._lock = threading.Lock()

    @classmethod
    def of(cls, config: EngineConfig | Settings) -> Settings:
        return config if isinstance(config, Settings) else cls(config)

    @property
    def current(self) -> EngineConfig:
        return self._config

    def update(self, **changes: Any) -> EngineConfig:
        with self._lock:
            self._config = replace(self._config, **changes)
            return self._config
