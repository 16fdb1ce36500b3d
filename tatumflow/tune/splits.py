"""Which recordings the tuning reads: PiJAMA's files per pianist, and Art Tatum's split by recording.

The split is the training loop's (`train.data.split_by_recording`, computed here from the folder without a token
cache): Tatum's held-out recordings are the first max(5, 10 %) of his recording keys by hash. Of those, the *tuning
split* (the five named in benchmarks/eval/README.md) is what the tuning may look at; the others are the report split,
which nothing here reads. Prompts for training come from the rest (the training split). Both transcriptions of a
recording share its key, so they fall on one side.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..notes import TRANSCRIPTIONS, find_midi_files
from ..train import data

TATUM = "Art Tatum"
TUNING_TITLES = ("Gone With The Wind", "Tea For Two", "The Very Thought Of You", "Deep Purple",
                 "If You Hadn't Gone Away")


@dataclass(frozen=True)
class Recording:
    key: str  # data.recording_key: shared by both transcriptions
    pianist: str
    files: tuple[Path, ...]  # one per transcription present, kong first


def pijama_recordings(root: str | Path, transcriptions: tuple[str, ...] = ("kong",)) -> list[Recording]:
    """Every recording under a PiJAMA root (`<root>/{kong,hawthorne}/...`), the files of the named transcriptions."""
    root = Path(root)
    csv = root / data.CSV_NAME
    artists = data.read_pijama_csv(csv) if csv.is_file() else {}
    files: dict[str, list[Path]] = defaultdict(list)
    pianist: dict[str, str] = {}
    for name in transcriptions:
        if name not in TRANSCRIPTIONS:
            raise ValueError(f"unknown transcription {name!r}; PiJAMA has {TRANSCRIPTIONS}")
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"no {name}/ folder under {root}: not a PiJAMA root")
        for path in find_midi_files([folder]):
            rel = path.relative_to(root).as_posix()
            key, _ = data.recording_key(rel)
            files[key].append(path)
            pianist.setdefault(key, data.style_name(rel, artists))
    return [Recording(k, pianist[k], tuple(files[k])) for k in sorted(files)]


def tatum_split(recordings: list[Recording], seed: int = 0) -> tuple[list[Recording], list[Recording]]:
    """(training split, tuning split) of Art Tatum's recordings; the report split is left out (see the module)."""
    tatum = [r for r in recordings if r.pianist == TATUM]
    keys = sorted((r.key for r in tatum), key=lambda k: data._unit_hash(k, seed))
    n = min(max(5, round(0.10 * len(keys))), len(keys) // 2)
    held = set(keys[:n])
    train = [r for r in tatum if r.key not in held]
    tuning = [r for r in tatum if r.key in held and Path(r.key).name in TUNING_TITLES]
    return train, tuning
