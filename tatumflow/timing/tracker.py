"""An online tempo and beat tracker over the onsets the engine hears.

Every `update(now)` looks at the last `window_s` of onsets (notes within 35 ms merged into one onset, weighted by
how many notes and how loud: a chord is one strong event, not several), and:

1. builds an onset-strength signal on a 10 ms grid, smoothed by a Gaussian (timing jitter of a live player);
2. scores every beat period in [60/max_bpm, 60/min_bpm] by the signal's autocorrelation at that lag, plus half of
   it at twice the lag (a beat is usually also there two beats later: this picks the beat level over a
   subdivision) and a quarter of it at a half or a third of the lag (beats divide into 8ths or triplets: this
   rejects a dotted level, 3/2 of the beat), times a log-normal prior around `prior_bpm` (which metrical level a
   musician would tap), times a prior toward the previous estimate (tempo is continuous; a real change wins within
   a window);
3. finds the beat phase: the comb of that period that best fits the recent onsets, recent ones weighted more;
4. rates its confidence from the autocorrelation peak (how periodic) and the comb's contrast (how much more
   onset weight the best beat phase catches than an average phase); below `min_confidence`, or with too few
   onsets, it says "no tempo" (None) rather than guess.

Swing survives because the beat level is scored, not the 8th-note level; chords count once; rubato and tempo
changes move the estimate within a window because only the last `window_s` counts.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .grid import BeatGrid


@dataclass(frozen=True)
class TrackerConfig:
    window_s: float = 8.0
    grid_s: float = 0.01
    smooth_s: float = 0.02  # Gaussian smoothing of the onset signal (player jitter)
    chord_s: float = 0.035
    min_bpm: float = 50.0
    max_bpm: float = 300.0
    prior_bpm: float = 120.0
    prior_octaves: float = 1.0  # std of the log2-tempo prior
    continuity_octaves: float = 0.08  # std of the log2 change from the previous estimate
    continuity_weight: float = 0.2  # 0: every update independent; 1: changes only by the continuity prior
    octave_hold: float = 0.6
    min_onsets: int = 8
    min_confidence: float = 0.35

    def __post_init__(self) -> None:
        if not 0 < self.min_bpm < self.max_bpm:
            raise ValueError(f"need 0 < min_bpm < max_bpm, got {self.min_bpm}, {self.max_bpm}")
        if self.window_s < 4 * 60.0 / self.min_bpm / 2:
            raise ValueError(f"window_s {self.window_s} must hold at least two beats at min_bpm {self.min_bpm}")
        if not 0 <= self.continuity_weight < 1:
            raise ValueError(f"continuity_weight must be in [0, 1), got {self.continuity_weight}")


class TempoTracker:
    """Feed onsets with `add(onset_s, velocity)`; `update(now_s)` returns a `BeatGrid` or None ("no tempo")."""

    def __init__(self, config: TrackerConfig | None = None, source: str = "human") -> None:
        self.config = config or TrackerConfig()
        self.source = source
        self._onsets: deque[list[float]] = deque()  # [time, weight, velocity sum, notes]
        self.estimate: BeatGrid | None = None
        self.last_confidence = 0.0

    def add(self, onset_s: float, velocity: int = 80) -> None:
        """One note's onset (any order within `chord_s` of the newest; older arrivals are folded in too)."""
        c = self.config
        if self._onsets and abs(onset_s - self._onsets[-1][0]) <= c.chord_s:
            group = self._onsets[-1]
            group[2] += velocity
            group[3] += 1
            group[1] = math.log1p(group[3]) * (0.5 + group[2] / group[3] / 127)
            return
        self._onsets.append([onset_s, math.log1p(1) * (0.5 + velocity / 127), float(velocity), 1.0])

    def add_notes(self, onsets: Iterable[tuple[float, int]]) -> None:
        for t, v in sorted(onsets):
            self.add(t, v)

    def update(self, now_s: float) -> BeatGrid | None:
        c = self.config
        while self._onsets and self._onsets[0][0] < now_s - c.window_s:
            self._onsets.popleft()
        if len(self._onsets) < c.min_onsets:
            self._no_tempo()
            return None
        times = np.array([o[0] for o in self._onsets])
        weights = np.array([o[1] for o in self._onsets])
        signal = self._signal(times - (now_s - c.window_s), weights)
        period, periodicity = self._period(signal)
        if period is None:
            self._no_tempo()
            return None
        beat_s, fit = self._phase(times, weights, period, now_s)
        confidence = float(np.sqrt(max(periodicity, 0.0) * fit))
        self.last_confidence = confidence
        if confidence < c.min_confidence:
            self._no_tempo()
            return None
        self.estimate = BeatGrid(60.0 / period, beat_s, self.source, round(confidence, 3))
        return self.estimate

    def _no_tempo(self) -> None:
        self.estimate = None
        self.last_confidence = 0.0
        return None

    # -- the three steps -----------------------------------------------------------------------------------------
    def _signal(self, rel_times: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Onset strength on the grid over the window, Gaussian-smoothed, mean removed."""
        c = self.config
        n = int(round(c.window_s / c.grid_s)) + 1
        x = np.zeros(n)
        idx = np.clip(np.round(rel_times / c.grid_s).astype(int), 0, n - 1)
        np.add.at(x, idx, weights)
        half = int(3 * c.smooth_s / c.grid_s)
        kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * c.grid_s / c.smooth_s) ** 2)
        x = np.convolve(x, kernel / kernel.sum(), mode="same")
        return x - x.mean()

    def _period(self, x: np.ndarray) -> tuple[float | None, float]:
        """(beat period s, normalised autocorrelation at it) or (None, 0)."""
        c = self.config
        energy = float(np.dot(x, x))
        if energy <= 0:
            return None, 0.0
        n = len(x)
        spectrum = np.fft.rfft(x, 2 * n)
        ac = np.fft.irfft(spectrum * np.conj(spectrum))[:n] / energy  # ac[0] == 1
        ac = ac * n / np.maximum(n - np.arange(n), 1)  # unbiased: long lags see fewer pairs
        lo, hi = int(60.0 / c.max_bpm / c.grid_s), int(60.0 / c.min_bpm / c.grid_s)
        lags = np.arange(max(lo, 2), min(hi, (n - 1) // 2) + 1)
        if len(lags) == 0:
            return None, 0.0
        pos = np.clip(ac, 0, None)
        # The beat, the beat two beats on, and the beat's own subdivision (8ths or 8th triplets).
        salience = pos[lags] + 0.5 * pos[2 * lags] + 0.25 * np.maximum(pos[lags // 2], pos[lags // 3])
        log_ratio = np.log2(60.0 / (lags * c.grid_s) / c.prior_bpm)
        score = salience * np.exp(-0.5 * (log_ratio / c.prior_octaves) ** 2)
        if self.estimate is not None:
            change = np.log2(lags * c.grid_s / self.estimate.period_s)
            near = np.exp(-0.5 * (change / c.continuity_octaves) ** 2)
            score = score * ((1 - c.continuity_weight) + c.continuity_weight * near)
        best = self._keep_level(lags, score, int(np.argmax(score)))
        lag = float(lags[best])
        if 0 < best < len(lags) - 1:  # parabolic interpolation between grid lags
            a, b, d = score[best - 1], score[best], score[best + 1]
            denom = a - 2 * b + d
            if denom < 0:
                lag += 0.5 * (a - d) / denom
        return lag * c.grid_s, float(np.clip(ac[lags[best]], 0, 1))

    def _keep_level(self, lags: np.ndarray, score: np.ndarray, best: int) -> int:
        """Hysteresis between metrical levels: when the best lag is about twice or half the previous beat, keep the
        previous level while it scores at least `octave_hold` of the best (no flip-flopping between 97 and 194)."""
        if self.estimate is None:
            return best
        prev = self.estimate.period_s / self.config.grid_s
        ratio = lags[best] / prev
        if not any(abs(ratio / r - 1) < 0.06 for r in (0.5, 2.0)):
            return best
        near = int(np.argmin(np.abs(lags - lags[best] / ratio)))
        return near if score[near] >= self.config.octave_hold * score[best] else best

    def _phase(self, times: np.ndarray, weights: np.ndarray, period: float, now_s: float) -> tuple[float, float]:
        """(time of the latest beat at or before now, contrast of the best comb phase over the average phase).

        The contrast is 0 for onsets spread evenly over the beat and near 1 when they all sit on one phase.
        """
        c = self.config
        w = weights * np.exp((times - now_s) / (c.window_s / 2))  # recent onsets count more
        candidates = np.arange(0.0, period, c.grid_s)
        # Distance of every onset to the nearest beat of every candidate phase, in beats.
        rel = np.mod((times[None, :] - candidates[:, None]) / period, 1.0)
        on_beat = np.exp(-0.5 * (np.minimum(rel, 1 - rel) * period / (2 * c.smooth_s)) ** 2)
        score = on_beat @ w
        best = int(np.argmax(score))
        phase = float(candidates[best])
        beat_s = phase + math.floor((now_s - phase) / period) * period
        contrast = float((score[best] - score.mean()) / score[best]) if score[best] > 0 else 0.0
        return beat_s, contrast
