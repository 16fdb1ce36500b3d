"""How the model sees a MIDI file, and what the round trip MIDI -> notes -> steps -> notes -> MIDI keeps.

`roundtrip_stats(notes)` encodes the notes to steps, decodes them, writes a real MIDI file (in memory), reads it
back and compares the re-read notes with the original:

- `kept_fraction`: notes re-read from the written file / original notes.
- onset error: each re-read note is matched to the decoded note of the same pitch nearest in time, hence to its
  original note. Both sides are measured from their first note. Gaps longer than the delta range are shortened by
  the tokenizer (`silences_shortened` counts them); the shift this causes is removed before measuring, so the error
  is what quantisation (10 ms grid, MIDI ticks) costs.
- `polyphony`: the mean, over onsets, of how many notes sound at that onset (the new note included). A solo melody
  gives 1, a sustained four-note chord struck at once gives 4.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..model.tokenizer import DELTA, Tokenizer
from ..notes import (
    PIANO_HIGH,
    PIANO_LOW,
    TRANSCRIPTIONS,
    Note,
    find_midi_files,
    midi_file_from_tracks,
    read_midi,
    read_midi_bytes,
    sort_notes,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundTripStats:
    notes: int  # notes read from the file (all pitches, drum channel excluded)
    seconds: float  # first onset to last note end
    notes_per_second: float
    polyphony: float  # mean number of notes sounding at each onset (see module docstring)
    steps: int  # model steps (one per note in piano range)
    kept_fraction: float  # notes re-read after the full round trip / original notes
    onset_error_ms_median: float
    onset_error_ms_max: float
    silences_shortened: int  # gaps longer than the delta range, shortened to its maximum
    notes_out_of_range: int  # notes outside the 88 keys (not encoded)
    notes_matched: int  # re-read notes matched to an original note (denominator of the onset errors)

    def to_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) for a table: numbers to three significant digits (polyphony 3.8, not 3.7960), counts
        and long spans with thousands separators."""
        def text(value: float | int) -> str:
            if isinstance(value, int) or abs(value) >= 100:
                return f"{value:,.0f}" if isinstance(value, int) else f"{value:,.1f}"
            return f"{value:#.3g}"
        return [(key.replace("_", " "), text(value)) for key, value in self.to_dict().items()]


def mean_polyphony(notes: Sequence[Note]) -> float:
    """Mean, over note onsets, of how many notes sound at that onset (the new note included)."""
    if not notes:
        return 0.0
    onsets = np.sort(np.array([n.onset_s for n in notes]))
    ends = np.sort(np.array([n.end_s for n in notes]))
    # At onset t: notes started at or before t, minus notes ended at or before t.
    started = np.searchsorted(onsets, onsets, side="right")
    ended = np.searchsorted(ends, onsets, side="right")
    return float(np.mean(started - ended))


def _write_and_reread(notes: Sequence[Note]) -> list[Note]:
    """Write notes to a MIDI file in memory and read them back, as a user of the output would."""
    buffer = io.BytesIO()
    midi_file_from_tracks({"roundtrip": notes}).save(file=buffer)
    return read_midi_bytes(buffer.getvalue(), "<round trip>")


def _onset_errors_s(reread: Sequence[Note], decoded: Sequence[Note], expected_s: np.ndarray) -> np.ndarray:
    """|onset error| of each re-read note, matched to the decoded note of the same pitch nearest in time.

    `expected_s[i]` is where decoded note i should sound: its original onset from the first note, minus the shift of
    shortened silences before it. Returns one error per matched re-read note.
    """
    if not reread:
        return np.zeros(0)
    origin = reread[0].onset_s
    dec_pitch = np.array([n.pitch for n in decoded])
    dec_onset = np.array([n.onset_s for n in decoded])
    out_pitch = np.array([n.pitch for n in reread])
    out_onset = np.array([n.onset_s for n in reread]) - origin
    errors = []
    for pitch in np.unique(out_pitch):
        idx = np.flatnonzero(dec_pitch == pitch)  # decoded notes of this pitch, in onset order
        if not idx.size:
            continue
        t = out_onset[out_pitch == pitch]
        pos = np.clip(np.searchsorted(dec_onset[idx], t), 1, max(idx.size - 1, 1))
        left, right = idx[pos - 1], idx[np.minimum(pos, idx.size - 1)]
        best = np.where(np.abs(dec_onset[left] - t) <= np.abs(dec_onset[right] - t), left, right)
        errors.append(np.abs(t - expected_s[best]))
    return np.concatenate(errors) if errors else np.zeros(0)


def roundtrip_stats(notes: Sequence[Note], tokenizer: Tokenizer | None = None) -> RoundTripStats:
    """Statistics of `notes` and of their round trip through model steps and a written MIDI file."""
    tokenizer = tokenizer or Tokenizer()
    notes = sort_notes(notes)
    in_range = [n for n in notes if PIANO_LOW <= n.pitch <= PIANO_HIGH]
    steps, shortened = tokenizer.encode(in_range)
    decoded = tokenizer.decode(steps)
    reread = _write_and_reread(decoded)
    errors_s = np.zeros(0)
    if in_range:
        grid_s = tokenizer.config.grid_s
        origin = in_range[0].onset_s
        # Grid position each note would have without shortening, minus where it was decoded: the shift in grid steps.
        raw_grid = np.round((np.array([n.onset_s for n in in_range]) - origin) / grid_s)
        shift_s = (raw_grid - np.cumsum(steps[:, DELTA])) * grid_s
        expected_s = np.array([n.onset_s for n in in_range]) - origin - shift_s
        errors_s = _onset_errors_s(reread, decoded, expected_s)
    seconds = (max(n.end_s for n in notes) - notes[0].onset_s) if notes else 0.0
    errors_ms = errors_s * 1000.0
    return RoundTripStats(
        notes=len(notes),
        seconds=round(seconds, 3),
        notes_per_second=round(len(notes) / seconds, 3) if seconds > 0 else 0.0,
        polyphony=round(mean_polyphony(notes), 3),
        steps=len(steps),
        kept_fraction=len(reread) / len(notes) if notes else 1.0,
        onset_error_ms_median=round(float(np.median(errors_ms)), 3) if errors_ms.size else 0.0,
        onset_error_ms_max=round(float(np.max(errors_ms)), 3) if errors_ms.size else 0.0,
        silences_shortened=shortened,
        notes_out_of_range=len(notes) - len(in_range),
        notes_matched=int(errors_ms.size),
    )


def inspect_file(path: str | os.PathLike, tokenizer: Tokenizer | None = None) -> RoundTripStats:
    """Read a MIDI file and compute its round-trip statistics. Raises FileNotFoundError or ValueError."""
    notes = read_midi(Path(path))
    log.debug("%s: %d notes", path, len(notes))
    return roundtrip_stats(notes, tokenizer)


# -- the corpus ---------------------------------------------------------------------------------------------------

PIJAMA_ENV = "TATUMFLOW_PIJAMA"


def default_pijama_root() -> Path:
    """`$TATUMFLOW_PIJAMA`, else `../shared/data/pijama` next to the repository root. May not exist."""
    if os.environ.get(PIJAMA_ENV):
        return Path(os.environ[PIJAMA_ENV])
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pijama"


def corpus_files(root: str | os.PathLike) -> list[Path]:
    """Every recording of both transcriptions: `<root>/{kong,hawthorne}/{studio,live}/<pianist>/<album>/*.midi`."""
    root = Path(root)
    return find_midi_files(root / t for t in TRANSCRIPTIONS if (root / t).is_dir())


def check_file(path: str | os.PathLike) -> dict:
    """Round-trip statistics of one file as a dict with its `path`, or its `error` (never raises)."""
    try:
        return {"path": str(path), **inspect_file(path).to_dict()}
    except Exception as err:  # the corpus check counts every failure as a crash
        log.warning("%s: %s", path, err)
        return {"path": str(path), "error": f"{type(err).__name__}: {err}"}


def summarise(results: Sequence[dict]) -> dict:
    """Corpus totals: crashes, kept fraction (min/mean), onset error (max, median of medians), shortened silences."""
    ok = [r for r in results if "error" not in r]
    kept = np.array([r["kept_fraction"] for r in ok]) if ok else np.ones(1)
    notes = sum(r["notes"] for r in ok)
    return {
        "files": len(results),
        "crashes": len(results) - len(ok),
        "errors": [f"{r['path']}: {r['error']}" for r in results if "error" in r],
        "notes": notes,
        "hours": round(sum(r["seconds"] for r in ok) / 3600, 2),
        "kept_fraction_min": float(kept.min()),
        "kept_fraction_mean": float(kept.mean()),
        "kept_fraction_total": sum(r["kept_fraction"] * r["notes"] for r in ok) / notes if notes else 1.0,
        "notes_lost": int(round(sum((1 - r["kept_fraction"]) * r["notes"] for r in ok))),
        "onset_error_ms_max": max((r["onset_error_ms_max"] for r in ok), default=0.0),
        "onset_error_ms_median_of_medians": float(np.median([r["onset_error_ms_median"] for r in ok])) if ok else 0.0,
        "silences_shortened": sum(r["silences_shortened"] for r in ok),
        "files_with_shortened_silences": sum(1 for r in ok if r["silences_shortened"]),
        "notes_out_of_range": sum(r["notes_out_of_range"] for r in ok),
    }
