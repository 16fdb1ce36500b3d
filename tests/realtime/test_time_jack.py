"""Time with real parts: over a JACK dummy server an outside client sends MIDI clock (Start, then 24 ppqn) and plays
phrases on its grid into `TatumFlow In`; `tatumflow jam --sync clock` (a subprocess, the embedded model) answers
each phrase on a beat, its onsets lean to the clock's grid, the report and the recording carry the tempo, and Stop
and SIGINT leave nothing sounding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import mido
import numpy as np
import pytest

from tatumflow.notes import Note, note_messages
from tatumflow.timing.grid import BeatGrid

from .jack import JackClient, RawListener, assert_silent, jack_dummy_server

pytestmark = pytest.mark.jack
SILENCE_S = 0.5
TIME_FIELDS = ("tempo_source", "tempo_bpm_last", "tempo_bpm_median", "beat_alignment_ms_p50",
               "beat_alignment_ms_p90", "reply_beat_offset_ms_p50", "reply_beat_offset_ms_max")


@pytest.fixture(scope="module")
def jack(tmp_path_factory):
    with jack_dummy_server(tmp_path_factory.mktemp("jack") / "jackd.log") as name:
        yield name


class ClockPlayer:
    """Sends Start then MIDI clock at `bpm` from a thread; beat k of its grid is at `t0 + k * period` (monotonic)."""

    def __init__(self, out: mido.ports.BaseOutput, bpm: float) -> None:
        self.out, self.bpm = out, bpm
        self.lock = threading.Lock()  # the clock thread and the phrase player share the port
        self.t0 = time.monotonic() + 0.2
        self.grid = BeatGrid(bpm, self.t0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def send(self, msg: mido.Message) -> None:
        with self.lock:
            self.out.send(msg)

    def _run(self) -> None:
        tick = self.grid.period_s / 24
        _wait_until(self.t0 - 0.001)
        self.send(mido.Message("start"))
        i = 0
        while not self._stop.is_set():
            _wait_until(self.t0 + i * tick)
            self.send(mido.Message("clock"))
            i += 1

    def play_bar(self, bar: int, eighths: int = 8) -> float:
        """Eighth notes from the first beat of `bar` (4 beats a bar); returns the last release (monotonic)."""
        start = self.t0 + 4 * bar * self.grid.period_s
        half = self.grid.period_s / 2
        notes = [Note(i * half, half * 0.7, 60 + (i * 5) % 12, 80) for i in range(eighths)]
        for t, msg in note_messages(notes):
            _wait_until(start + t)
            self.send(msg)
        return time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def _wait_until(t: float) -> None:
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.0005) if left < 0.003 else left - 0.002)


def _reply_onsets(client: JackClient, after: float, quiet_s: float = 1.0, limit_s: float = 14.0) -> list[float]:
    """The onsets after `after`, once the reply has gone quiet for `quiet_s`."""
    deadline = after + limit_s
    while time.monotonic() < deadline:
        ons = client.note_ons(after=after)
        if ons and time.monotonic() - ons[-1] > quiet_s:
            return ons
        time.sleep(0.05)
    return client.note_ons(after=after)


def _jam(tmp_path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "tatumflow.cli", "jam", "--in", "virtual", "--out", "virtual", "--mode",
            "call-response", "--sync", "clock", "--silence", str(SILENCE_S), "--report", str(tmp_path / "r.json"),
            "--record", str(tmp_path / "s.mid"), *extra]
    return subprocess.Popen(args, env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _session(tmp_path, bpm: float, phrases: int = 3) -> tuple[list[list[float]], ClockPlayer, JackClient, dict]:
    proc = _jam(tmp_path)
    client = player = raw = None
    replies: list[list[float]] = []
    try:
        client = JackClient()
        raw = RawListener.start()
        player = ClockPlayer(client.out, bpm)
        bar = 2  # the clock's tempo is known a beat after Start; the file's bars from the next bar or two
        for _ in range(phrases):
            released = player.play_bar(bar)
            ons = _reply_onsets(client, released)
            assert ons, f"no reply at {bpm} bpm to phrase {len(replies) + 1}: {_why(proc, raw)}"
            replies.append(ons)
            bar = int(np.ceil((time.monotonic() - player.t0) / (4 * player.grid.period_s))) + 1
        player.send(mido.Message("stop"))
        time.sleep(0.5)
        assert_silent(client, raw)  # Stop: nothing sounds
        player.send(mido.Message("continue"))
        bar = int(np.ceil((time.monotonic() - player.t0) / (4 * player.grid.period_s))) + 1
        released = player.play_bar(bar)
        _wait_for_note(client, released)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # mid-reply
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if player is not None:
            player.close()
        if raw is not None:
            time.sleep(0.2)
            raw.close()
    time.sleep(0.2)
    client.close()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert_silent(client, raw)
    return replies, player, client, json.loads((tmp_path / "r.json").read_text())


def _why(proc: subprocess.Popen, raw: RawListener | None) -> str:
    """What the engine said and what JACK delivered, for a failure message."""
    heard = raw.messages() if raw is not None else []
    proc.send_signal(signal.SIGINT)
    try:
        out = proc.communicate(timeout=20)[0].decode(errors="replace")[-1500:]
    except subprocess.TimeoutExpired:
        out = "(jam did not stop)"
    ons = sum(m.type == "note_on" and m.velocity > 0 for _, m in heard)
    return f"the raw listener heard {ons} note-ons in all; jam said: {out}"


def _wait_for_note(client: JackClient, after: float, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while not client.note_ons(after=after) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.note_ons(after=after), "no reply before the SIGINT"


def _recorded_onset_ticks(path) -> tuple[mido.MidiFile, list[int]]:
    midi = mido.MidiFile(str(path))
    human = next(tr for tr in midi.tracks if any(getattr(m, "name", "") == "human" for m in tr))
    tick, ons = 0, []
    for m in human:
        tick += m.time
        if m.type == "note_on" and m.velocity > 0:
            ons.append(tick)
    return midi, ons


# Stop and SIGINT are judged on what JACK delivered (RawListener, outside Python): the test's own callback listener
# waits for this process's GIL inside JACK's cycle and can lose a note-off (issue 12, 2026-12-01). The median onset
# distance failed at 160 bpm (0.030 beats) before the meter prior's tolerance scaled with the beat and onsets within
# half a token step of a grid position were put on it (generate/meter.py); 200 bpm: faster than the issue's.
@pytest.mark.flaky(reruns=2, reruns_delay=1)  # real-time over JACK on 2 shared cores: timing can starve
@pytest.mark.parametrize("bpm", [96.0, 120.0, 160.0, 200.0])
def test_clock_sync_replies_on_the_beat_and_in_time(jack, tmp_path, bpm):
    replies, player, client, report = _session(tmp_path, bpm)
    grid = player.grid
    starts_ms = [abs(grid.offset_to_beat_s(r[0])) * 1e3 for r in replies]
    onsets = np.concatenate([np.asarray(r) for r in replies])
    median_beats = float(np.median(grid.subdivision_distance_beats(onsets)))
    print(f"{bpm} bpm: reply starts {np.round(starts_ms, 1)} ms from a beat; median onset distance "
          f"{median_beats:.4f} beats over {len(onsets)} onsets; "
          f"report {json.dumps({k: report[k] for k in TIME_FIELDS})}")
    assert max(starts_ms) <= 25.0, starts_ms
    assert median_beats <= 0.025, median_beats
    assert all(k in report for k in TIME_FIELDS) and report["stuck_notes"] == 0
    assert report["tempo_source"] == "clock" and abs(report["tempo_bpm_median"] - bpm) < 0.5
    midi, ticks = _recorded_onset_ticks(tmp_path / "s.mid")
    tempos = [mido.tempo2bpm(m.tempo) for m in midi.tracks[0] if m.type == "set_tempo"]
    assert any(abs(t - bpm) < 0.5 for t in tempos), tempos
    eighth = midi.ticks_per_beat / 2
    off_ms = [abs(t / eighth - round(t / eighth)) * grid.period_s / 2 * 1e3 for t in ticks]
    # the human's eighths sit on the file's eighths: within 12 ms (a JACK period of stamping, the clock follower's
    # smoothing; 0.05 of an eighth was 9.4 ms at 160 bpm and failed by 1-2 ms on a quiet CI-like run)
    assert np.median(off_ms) < 12.0, np.round(off_ms, 1)
    bar = 4 * midi.ticks_per_beat
    firsts = [ticks[0]] + [b for a, b in zip(ticks, ticks[1:]) if b - a > 2 * midi.ticks_per_beat]
    # the phrases before Stop began on downbeats (after Continue the song position resumes where it stopped)
    assert all(abs(t / bar - round(t / bar)) < 0.03 for t in firsts[:3]), firsts
