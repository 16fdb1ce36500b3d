"""Trading fours over the form (`jam --mode trade --trade N --changes tune.txt`).

The form (liveform.py) is cut into turns of N bars from chorus 1's bar 1 (`--trade chorus`: a whole chorus a turn).
The player takes a turn, TatumFlow answers the next: its first note on the turn's bar line (beat 1; the first few
notes generated just before it and pulled onto it, as a reply's first chunk is), its last note-off before the next
bar line, where the player comes in again. The rules, in `TradeTurns` (pure: times in, decisions out):

- TatumFlow answers turn t when the player played in turn t - 1 (bar 1's turn is always the player's). It decides
  `lead` before the bar line: what the player played up to then counts.
- A note in the first `GRACE_BEATS` of a turn belongs to the turn before (a phrase that ends on the next downbeat),
  one in its last `PICKUP_BEATS` to the turn after (a pickup into the player's next turn); neither keeps a turn.
- A player who keeps playing into TatumFlow's turn (a note between the two) keeps the turn: TatumFlow stops at once
  (what is planned is cancelled, as a barge-in) and stays silent for the rest of it, and answers the next.

`Trade` is the mode: a `CallResponse` whose replies are turns. Each answer's first note is measured against its bar
line (the report's `trade_start_ms_*`); `trades` counts the answers heard, `trades_kept` the turns the player kept.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ...notes import Note
from ...timing.form import Changes
from .modes import DECIDE_SLACK_S, CallResponse, Mode, ModeParts, Reply
from .modes import make_mode as make_plain_mode
from .outbox import ReplyTimes
from .report import SessionStats

log = logging.getLogger(__name__)
GRACE_BEATS = 0.5
PICKUP_BEATS = 1.0
END_MARGIN_S = 0.02  # the last note-off this long before the next bar line
MIN_NOTE_S = 0.03  # a note that would be shorter than this before the bar line is not played
MAX_TRADE_BARS = 32
KEPT_ONSETS = 1024


def parse_trade(text: str) -> int:
    """`--trade`: a number of bars (1..32; 2, 4 and 8 are the usual) or `chorus` (0: a whole chorus)."""
    if text.strip().lower() == "chorus":
        return 0
    try:
        bars = int(text)
    except ValueError:
        bars = -1
    if not 1 <= bars <= MAX_TRADE_BARS:
        raise ValueError(f"--trade must be a number of bars 1..{MAX_TRADE_BARS} (2, 4, 8) or 'chorus', got {text!r}")
    return bars


@dataclass(frozen=True)
class Turn:
    index: int  # 0: from chorus 1's bar 1 (negative before it)
    start_s: float
    end_s: float


class TradeTurns:
    """Who plays which turn (module docstring). `bars` per turn, 0 = a chorus. Times are session seconds; the form
    in time (`Changes`) is passed to each call, since a live tempo moves it."""

    def __init__(self, bars: int, grace_beats: float = GRACE_BEATS, pickup_beats: float = PICKUP_BEATS) -> None:
        if not 0 <= bars <= MAX_TRADE_BARS:
            raise ValueError(f"a turn is 1..{MAX_TRADE_BARS} bars (0: a chorus), got {bars}")
        self.bars, self.grace_beats, self.pickup_beats = bars, grace_beats, pickup_beats
        self._onsets: deque[float] = deque(maxlen=KEPT_ONSETS)  # the player's, in arrival order

    def turn_beats(self, changes: Changes) -> int:
        form = changes.form
        return (self.bars or len(form.bars)) * form.beats_per_bar

    def turn(self, changes: Changes, index: int) -> Turn:
        beats = self.turn_beats(changes)
        start = changes.start_s + index * beats * changes.period_s
        return Turn(index, start, start + beats * changes.period_s)

    def turn_at(self, changes: Changes, t_s: float) -> Turn:
        return self.turn(changes, math.floor(changes.beats(t_s) / self.turn_beats(changes) + 1e-9))

    def heard(self, onsets: Iterable[float]) -> None:
        self._onsets.extend(onsets)

    def keep_span(self, changes: Changes, turn: Turn) -> tuple[float, float]:
        """The part of `turn` where a player's note keeps (or takes) the turn: after its grace, before its pickup."""
        return (turn.start_s + self.grace_beats * changes.period_s, turn.end_s - self.pickup_beats * changes.period_s)

    def played(self, changes: Changes, turn: Turn, until_s: float = math.inf) -> bool:
        """Whether the player played in `turn` (a note in its keep span) before `until_s`."""
        lo, hi = self.keep_span(changes, turn)
        hi = min(hi, until_s)
        return any(lo <= t < hi for t in self._onsets)

    def answers(self, changes: Changes, turn: Turn, now_s: float) -> bool:
        """Whether TatumFlow plays `turn`, as known at `now_s`: the player played the turn before, and has not
        taken this one."""
        if turn.index < 1:
            return False
        before = self.turn(changes, turn.index - 1)
        return self.played(changes, before, now_s) and not self.played(changes, turn, now_s)


@dataclass(frozen=True)
class TradeTimes(ReplyTimes):
    """An answer's first note against its bar line (`beat_s`), into the trade stats."""

    def record(self, stats: SessionStats, sent_s: float) -> None:
        stats.trades += 1
        stats.trade_start_ms.append((sent_s - self.beat_s) * 1e3)


@dataclass
class TradeReply(Reply):
    keep_from_s: float = 0.0  # a player's note from here ...
    keep_until_s: float = 0.0  # ... to here keeps the turn: TatumFlow stops
    turn_end_s: float = 0.0  # the next bar line where the player comes in


def clip_to(notes: list[Note], end_s: float) -> list[Note]:
    """Every note off by `end_s`; those that would be shorter than MIN_NOTE_S left out."""
    out = []
    for n in notes:
        if n.onset_s + MIN_NOTE_S <= end_s:
            out.append(replace(n, duration_s=min(n.duration_s, end_s - n.onset_s)) if n.end_s > end_s else n)
    return out


class Trade(CallResponse):
    name = "trade"

    def __init__(self, parts: ModeParts) -> None:
        super().__init__(parts)
        self.turns = TradeTurns(self.config.trade_bars)
        self._decided = -1  # the last turn decided (answered or not)

    def human_onset(self, t_s: float) -> None:
        """A note inside TatumFlow's turn (past its grace, before the pickup) keeps the turn for the player."""
        with self._lock:
            reply = self._reply
            if isinstance(reply, TradeReply) and self._barge_at is None \
                    and reply.keep_from_s <= t_s < reply.keep_until_s:
                self._barge_at = t_s
                dropped = self.outbox.cancel_from(t_s)
                log.debug("the player keeps the turn at %.3f s: %d planned notes dropped", t_s, dropped)

    def _played_meanwhile(self, reply: Reply) -> float | None:
        last = self.live.last_onset_s
        if isinstance(reply, TradeReply) and last is not None and reply.keep_from_s <= last < reply.keep_until_s:
            return last
        return None

    def step(self, now_s: float, taken) -> None:
        self.turns.heard(taken.onsets)
        kept = self._reply is not None and self._barge_at is not None
        super().step(now_s, taken)
        if kept:
            self.stats.trades_kept += 1

    def _lead_s(self) -> float:
        cost = self.planner.first_cost_s()
        changes = self.changes
        beat = changes.period_s if changes is not None else 0.5
        return max(min(2 * cost + 0.03, beat), cost + DECIDE_SLACK_S)

    def _maybe_reply(self, now_s: float) -> None:
        changes = self.changes
        if changes is None:
            return  # no form placed yet: no bars to trade on
        current = self.turns.turn_at(changes, now_s)
        nxt = self.turns.turn(changes, current.index + 1)
        if current.index > self._decided and self.turns.answers(changes, current, now_s):
            self._answer(now_s, changes, current)  # a turn already begun (the form was just placed): join it
        elif nxt.index > self._decided and now_s >= nxt.start_s - self._lead_s():
            self._decided = nxt.index
            if self.turns.answers(changes, nxt, now_s):
                self._answer(now_s, changes, nxt)

    def _answer(self, now_s: float, changes: Changes, turn: Turn) -> None:
        self._decided = turn.index
        keep_from, keep_until = self.turns.keep_span(changes, turn)
        start = turn.start_s
        if now_s + self.planner.first_cost_s() > start:  # late: the first beat of the turn it can still meet
            start = changes.beat_grid().next_beat(now_s + self.planner.first_cost_s())
        end = turn.end_s - END_MARGIN_S
        if start >= keep_until:
            return
        self.context.hear_sounding(self.live.sounding_notes(now_s))
        group = self.outbox.new_group(TradeTimes(start, start, start))
        reply = TradeReply(group, start, end - MIN_NOTE_S, start, decided_s=now_s, keep_from_s=keep_from,
                           keep_until_s=keep_until, turn_end_s=end)
        with self._lock:
            self._reply = reply
        self.stats.replies += 1
        self._first_window(now_s, reply)

    def _commit(self, notes: list[Note], reply: Reply, next_start_s: float) -> None:
        if isinstance(reply, TradeReply):
            notes = clip_to(notes, reply.turn_end_s)
        super()._commit(notes, reply, next_start_s)


def make_mode(parts: ModeParts, has_prompt: bool = False) -> Mode:
    """The policy for the configured mode (trade here, the others in modes.py)."""
    if parts.settings.current.mode == Trade.name:
        if parts.form is None:
            log.warning("trade needs a chord chart (jam --changes): answering as call-response")
            return CallResponse(parts)
        return Trade(parts)
    return make_plain_mode(parts, has_prompt)
