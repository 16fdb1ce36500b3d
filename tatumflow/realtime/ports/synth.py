"""The built-in piano: FluidSynth (pyfluidsynth) with a General MIDI soundfont, to the speakers through sounddevice,
and offline rendering of notes or MIDI files to WAV. With no audio device the live synth runs silent (null audio)
and a WAV is rendered offline from the recording."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import wave
from collections.abc import Mapping, Sequence
from pathlib import Path

import mido
import numpy as np

from ...files import atomic_path
from ...midistream import NOTE_OFF, NOTE_ON, MappedMidi
from ...notes import PEDAL_CCS, Note
from ...paths import check_input_file, check_output_file
from . import environment
from .sinks import HUMAN, MODEL, Sink

log = logging.getLogger(__name__)

SOUNDFONT_DIRS = (
    "/usr/share/sounds/sf2",
    "/usr/share/soundfonts",
    "/usr/share/sounds/sf3",
    "/usr/local/share/soundfonts",
    "/opt/homebrew/share/soundfonts",
    "/usr/share/fluidsynth",
    "~/.local/share/soundfonts",
    "C:/soundfonts",
)
PREFERRED = ("default-GM.sf2", "FluidR3_GM.sf2", "TimGM6mb.sf2", "GeneralUser GS.sf2", "default.sf2")
SAMPLE_RATE = 44100
GAIN = 0.6
MAX_GAP_S = 30.0  # render cuts a longer gap between a file's events to this (a piano note has died away long before)
MAX_RENDER_S = 2 * 3600.0  # the longest WAV render writes: 2 hours, 1.2 GiB (longer is refused before writing)


def find_soundfont(explicit: str | os.PathLike | None = None) -> Path:
    """The soundfont given, else $TATUMFLOW_SOUNDFONT, else a General MIDI one from the usual system folders."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ValueError(f"soundfont not found: {path}")
        return path
    env = environment.soundfont()
    if env and Path(env).is_file():
        return Path(env)
    candidates: list[Path] = []
    for folder in map(lambda d: Path(d).expanduser(), SOUNDFONT_DIRS):
        if folder.is_dir():
            candidates += sorted(p for p in folder.iterdir() if p.suffix.lower() in (".sf2", ".sf3") and p.is_file())
    for name in PREFERRED:
        for p in candidates:
            if p.name == name:
                return p
    if candidates:
        return candidates[0]
    raise ValueError(
        "no General MIDI soundfont found in " + ", ".join(SOUNDFONT_DIRS)
        + "; install one (e.g. apt install timgm6mb-soundfont) or pass --soundfont PATH"
    )


def _new_synth(soundfont: Path, sample_rate: int, channels: Sequence[int] = (0, 1)):
    import fluidsynth

    synth = fluidsynth.Synth(gain=GAIN, samplerate=float(sample_rate))
    sfid = synth.sfload(str(soundfont))
    if sfid < 0:
        synth.delete()
        raise ValueError(f"FluidSynth could not load the soundfont {soundfont}")
    for ch in channels:
        synth.program_select(ch, sfid, 0, 0)  # bank 0, program 0: acoustic grand piano
    return synth


def _apply(synth, msg: mido.Message) -> None:
    if msg.type == "note_on" and msg.velocity > 0:
        synth.noteon(msg.channel, msg.note, msg.velocity)
    elif msg.type in ("note_on", "note_off"):
        synth.noteoff(msg.channel, msg.note)
    elif msg.type == "control_change":
        synth.cc(msg.channel, msg.control, msg.value)


class FluidSynthSink(Sink):
    """Plays human (channel 1) and TatumFlow (channel 0) through FluidSynth; audio to the default device, or null."""

    def __init__(self, soundfont: str | os.PathLike | None = None, tracks: tuple[str, ...] = (MODEL, HUMAN),
                 sample_rate: int = SAMPLE_RATE, audio: bool = True) -> None:
        super().__init__("synth", tracks)
        self.soundfont = find_soundfont(soundfont)
        self.synth = _new_synth(self.soundfont, sample_rate)
        self.stream = self._open_stream(sample_rate) if audio else None
        self._synth_lock = threading.Lock()

    def _open_stream(self, sample_rate: int):
        try:
            import sounddevice as sd

            stream = sd.OutputStream(samplerate=sample_rate, channels=2, dtype="int16", latency="low",
                                     callback=self._audio_callback)
            stream.start()
        except Exception as err:  # no audio device (CI, servers): the synth keeps running silent
            log.info("no audio output (%s); the synth runs with null audio", err)
            return None
        log.info("synth: %s -> default audio device", self.soundfont.name)
        return stream

    def _audio_callback(self, outdata, frames, time_info, status) -> None:
        with self._synth_lock:
            samples = self.synth.get_samples(frames)
        outdata[:] = np.asarray(samples, dtype=np.int16).reshape(-1, 2)

    is_output = True

    def _send(self, msg: mido.Message, track: str, t_s: float) -> None:
        with self._synth_lock:
            _apply(self.synth, msg)

    def _close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
        self.synth.delete()


def _note_events(tracks: Mapping[str, Sequence[Note]], sample_rate: int) -> np.ndarray:
    """Rows (frame, is_on, channel, pitch, velocity) in time order (offs first at a frame): compact for any size."""
    rows = []
    for ch, notes in enumerate(tracks.values()):
        if not notes:
            continue
        a = np.array([(n.onset_s, n.end_s, n.pitch, min(max(int(n.velocity), 1), 127)) for n in notes])
        on = np.round(a[:, 0] * sample_rate).astype(np.int64)
        off = np.maximum(np.round(a[:, 1] * sample_rate).astype(np.int64), on)
        for frames, is_on in ((on, 1), (off, 0)):
            rows.append(np.stack([frames, np.full_like(frames, is_on), np.full_like(frames, ch),
                                  a[:, 2].astype(np.int64), a[:, 3].astype(np.int64)], axis=1))
    events = np.concatenate(rows) if rows else np.zeros((0, 5), dtype=np.int64)
    return events[np.lexsort((events[:, 1], events[:, 0]))]


@contextlib.contextmanager
def _fluidsynth_messages(what: str):
    """FluidSynth's own warnings (it can print millions: voices stolen, notes dropped) are counted through a pipe
    (nothing kept but the first line) and summed up in one log line."""
    read_fd, write_fd = os.pipe()
    lines, first = [0], [b""]

    def count() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                lines[0] += 1
                first[0] = first[0] or line.strip()

    reader = threading.Thread(target=count, name="fluidsynth-messages", daemon=True)
    reader.start()
    saved = os.dup(2)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        os.dup2(saved, 2)  # the pipe's last writer closes: the reader sees its end
        os.close(saved)
        reader.join(timeout=5)
        if lines[0]:
            log.warning("%s: FluidSynth printed %d message lines (first: %s)", what, lines[0],
                        first[0].decode(errors="replace")[:120])


class _WavOut:
    """A 16-bit stereo WAV written as FluidSynth makes it, in blocks of at most a second."""

    def __init__(self, wav: wave.Wave_write, synth, sample_rate: int) -> None:
        self.wav, self.synth, self.rate, self.done = wav, synth, sample_rate, 0
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)

    def until(self, frame: int) -> None:
        while frame > self.done:
            n = min(frame - self.done, self.rate)
            self.wav.writeframes(np.asarray(self.synth.get_samples(n), dtype=np.int16).tobytes())
            self.done += n


def _check_length(seconds: float, what: str) -> None:
    if seconds > MAX_RENDER_S:
        raise ValueError(f"{what}: {seconds / 3600:.1f} hours of audio; render writes at most "
                         f"{MAX_RENDER_S / 3600:g} hours ({MAX_RENDER_S * SAMPLE_RATE * 4 / 2**30:.1f} GiB): refused")


def render_tracks(tracks: Mapping[str, Sequence[Note]], wav_path: str | os.PathLike,
                  soundfont: str | os.PathLike | None = None, sample_rate: int = SAMPLE_RATE,
                  tail_s: float = 1.5) -> Path:
    """Render notes (one channel per track) to a 16-bit stereo WAV, offline and faster than real time; the audio
    is written as it is made (memory does not grow with the length), whole or not at all."""
    path = Path(wav_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    events = _note_events(tracks, sample_rate)
    _check_length((int(events[-1, 0]) if len(events) else 0) / sample_rate + tail_s, str(path))
    with _fluidsynth_messages(path.name):
        synth = _new_synth(find_soundfont(soundfont), sample_rate, channels=range(len(tracks)))
        try:
            with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as wav:
                out = _WavOut(wav, synth, sample_rate)
                for frame, is_on, ch, pitch, vel in events.tolist():
                    out.until(frame)
                    if is_on:
                        synth.noteon(ch, pitch, vel)
                    else:
                        synth.noteoff(ch, pitch)
                out.until(out.done + int(tail_s * sample_rate))
        finally:
            synth.delete()
    return path


def _plan(midi: MappedMidi) -> tuple[list[int], float, int]:
    """One pass over the file before anything is written: the tracks with notes, the length rendered (gaps
    longer than MAX_GAP_S cut to it) and how many gaps were cut."""
    found: set[int] = set()
    prev = length = 0.0
    cut = 0
    for t_s, kind, track, *_ in midi.events():
        cut += t_s - prev > MAX_GAP_S
        length, prev = length + min(t_s - prev, MAX_GAP_S), t_s
        if kind == NOTE_ON:
            found.add(track)
    return sorted(found), length, cut


def render_midi(midi_path: str | os.PathLike, wav_path: str | os.PathLike,
                soundfont: str | os.PathLike | None = None, sample_rate: int = SAMPLE_RATE,
                tail_s: float = 1.5) -> Path:
    """Render a MIDI file (each track with notes on its own channel, all piano; the pedals as played) to WAV.
    The paths, the soundfont and the length are checked before the WAV is opened: a gap of more than MAX_GAP_S
    between events is cut to it (said in a warning), and a render longer than MAX_RENDER_S is refused. The file is
    streamed (midistream.py): memory stays flat for any number of notes; the WAV appears whole or not at all."""
    check_input_file(midi_path, "MIDI file")
    check_output_file(wav_path, "output WAV")
    path = Path(wav_path)
    font = find_soundfont(soundfont)
    with MappedMidi(midi_path) as midi:
        with_notes, length, cut = _plan(midi)
        if not with_notes:
            raise ValueError(f"{midi_path}: no notes to render")
        _check_length(length + tail_s, str(midi_path))
        if cut:
            log.warning("%s: %d silence(s) longer than %g s cut to %g s", midi_path, cut, MAX_GAP_S, MAX_GAP_S)
        channel = {track: i % 16 for i, track in enumerate(with_notes)}
        with _fluidsynth_messages(path.name):
            synth = _new_synth(font, sample_rate, channels=sorted(set(channel.values())))
            try:
                with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as wav:
                    out = _WavOut(wav, synth, sample_rate)
                    _stream_to(out, midi, channel)
                    out.until(out.done + int(tail_s * sample_rate))
            finally:
                synth.delete()
    return path


def _stream_to(out: _WavOut, midi: MappedMidi, channel: Mapping[int, int]) -> None:
    """The file's events played into `out`'s synth at their times, gaps longer than MAX_GAP_S cut to it."""
    synth, prev, at = out.synth, 0.0, 0.0
    for t_s, kind, track, _, a, b in midi.events():
        at, prev = at + min(t_s - prev, MAX_GAP_S), t_s
        ch = channel.get(track)
        if ch is None:
            continue
        out.until(round(at * out.rate))
        if kind == NOTE_ON:
            synth.noteon(ch, a, b)
        elif kind == NOTE_OFF:
            synth.noteoff(ch, a)
        elif a in PEDAL_CCS:
            synth.cc(ch, a, b)
