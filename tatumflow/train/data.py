"""Training data: a token cache of MIDI corpora, style names, a split by recording, augmented random crops.

The cache is two files in one folder: `steps.npy` (every piece's steps concatenated, int16 `[S, 4]`, memory-mapped on
load) and `index.json` (tokenizer config, a fingerprint of the file list, one entry per piece). Nothing is pickled.

PiJAMA layout: `<root>/{kong,hawthorne}/{studio,live}/<pianist>/<album>/<title>.midi`. The *recording key* is the
path below the transcription folder without suffix (`studio/<pianist>/<album>/<title>`), shared by both
transcriptions of one recording; the split hashes it so that they always land on the same side.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import multiprocessing
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import atomic_open, write_atomic
from ..model.tokenizer import Tokenizer, TokenizerConfig
from ..notes import TRANSCRIPTIONS, read_midi
from ..notes import find_midi_files as scan_midi  # the one scanner; the name kept for callers

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
NO_STYLE = "none"  # style id 0: the unconditional style (classifier-free guidance)
UNKNOWN_STYLE = "unknown"
DEFAULT_VAL_STYLES = ("Art Tatum",)
STEPS_FILE, INDEX_FILE, CSV_NAME = "steps.npy", "index.json", "pijama.csv"


@dataclass(frozen=True)
class Piece:
    path: str  # relative to `source`
    source: str  # the folder given to build_cache
    offset: int  # first row in CorpusIndex.steps
    length: int  # number of steps
    style: str  # pianist name, or "unknown"
    key: str  # recording key, shared by the transcriptions of one recording
    transcription: str  # "kong", "hawthorne", or the source folder's name


@dataclass
class CorpusIndex:
    steps: np.ndarray  # [S, 4] int16, memory-mapped
    pieces: list[Piece]
    tokenizer_config: TokenizerConfig
    broken: list[str]  # files that could not be read
    stats: dict

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([p.length for p in self.pieces], dtype=np.int64)

    @property
    def offsets(self) -> np.ndarray:
        return np.array([p.offset for p in self.pieces], dtype=np.int64)

    def piece_steps(self, piece_id: int) -> np.ndarray:
        p = self.pieces[piece_id]
        return np.asarray(self.steps[p.offset : p.offset + p.length], dtype=np.int64)

    def steps_per_style(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.pieces:
            out[p.style] = out.get(p.style, 0) + p.length
        return out


# -- files and names -------------------------------------------------------------------------------------------
def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def recording_key(rel_path: str) -> tuple[str, str | None]:
    """(key, transcription or None) from a path relative to a source folder."""
    parts = Path(rel_path).with_suffix("").parts
    if len(parts) > 1 and parts[0] in TRANSCRIPTIONS:
        return "/".join(parts[1:]), parts[0]
    return "/".join(parts), None


def read_pijama_csv(path: Path) -> dict[str, str]:
    """`midi_filepath` minus "data/midi/" (NFC, e.g. "studio/<pianist>/<album>/<title>.midi") -> artist."""
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rel = row["midi_filepath"].removeprefix("data/midi/")
            out[_nfc(rel)] = row["artist"].strip()
    return out


def _find_csv(source: Path) -> Path | None:
    for d in (source, source.parent, source.parent.parent):
        if (d / CSV_NAME).is_file():
            return d / CSV_NAME
    return None


def style_name(rel_path: str, artists: Mapping[str, str]) -> str:
    """Pianist from pijama.csv, else the folder two levels above the file, else "unknown"."""
    key, _ = recording_key(rel_path)
    artist = artists.get(_nfc(key + Path(rel_path).suffix))
    if artist:
        return artist
    parts = Path(rel_path).parts
    return parts[-3] if len(parts) >= 3 else UNKNOWN_STYLE


def style_vocab(index: CorpusIndex) -> list[str]:
    """["none", then every style in the index, sorted]."""
    return [NO_STYLE] + sorted({p.style for p in index.pieces} - {NO_STYLE})


def style_ids(index: CorpusIndex, vocab: Sequence[str]) -> np.ndarray:
    """Style id of each piece (`[len(index)]` int64); styles missing from `vocab` get 0 ("none")."""
    lookup = {s: i for i, s in enumerate(vocab)}
    return np.array([lookup.get(p.style, 0) for p in index.pieces], dtype=np.int64)


# -- building and loading the cache -----------------------------------------------------------------------------
def _entries(dirs: Sequence[Path]) -> list[tuple[Path, str]]:
    """(source folder, relative path) for every MIDI file, in scan order."""
    entries = []
    for d in dirs:
        entries += [(Path(d), p.relative_to(d).as_posix()) for p in scan_midi([d])]
    return entries


def _fingerprint(entries: list[tuple[Path, str]]) -> str:
    h = hashlib.sha256()
    for src, rel in entries:
        h.update(f"{src.name}\0{rel}\0{(src / rel).stat().st_size}\n".encode())
    return h.hexdigest()


def _encode_file(job: tuple[int, str, dict]) -> tuple[int, np.ndarray | None, int, str]:
    """Worker: (job id, steps int16 or None, silences shortened, error message)."""
    i, path, config = job
    try:
        steps, shortened = Tokenizer(TokenizerConfig(**config)).encode(read_midi(path))
    except (ValueError, OSError, EOFError) as err:
        return i, None, 0, str(err)
    except Exception as err:  # one bad file must never stop the build
        return i, None, 0, f"{path}: {type(err).__name__}: {err}"
    return i, steps.astype(np.int16), shortened, ""


def _encode_all(jobs: list, workers: int, progress: Callable[[int, int], None] | None) -> list:
    results: list = [None] * len(jobs)
    chunk = max(1, min(16, len(jobs) // (8 * max(workers, 1)) or 1))
    if workers > 1:
        # fork: workers need no re-import of __main__ (scripts without a main guard work); they use no torch.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            it = pool.imap_unordered(_encode_file, jobs, chunksize=chunk)
            for done, r in enumerate(it, 1):
                results[r[0]] = r
                if progress:
                    progress(done, len(jobs))
    else:
        for done, job in enumerate(jobs, 1):
            results[job[0]] = _encode_file(job)
            if progress:
                progress(done, len(jobs))
    return results


def build_cache(
    dirs: Sequence[Path],
    cache_dir: Path,
    tokenizer: Tokenizer,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> CorpusIndex:
    """Tokenize every MIDI file under `dirs` into `cache_dir`, or load the cache there if it is up to date. With no
    `dirs`, the cache alone (one carried to a machine without the MIDI, a GPU box say): it must exist and have been
    built with this tokenizer."""
    cache_dir = Path(cache_dir)
    if not dirs:
        index = load_cache(cache_dir)
        if index.tokenizer_config.to_dict() != tokenizer.config.to_dict():
            raise ValueError(f"token cache {cache_dir} was built with another tokenizer config: rebuild it from the "
                             "MIDI (--data)")
        return index
    entries = _entries([Path(d) for d in dirs])
    fingerprint = _fingerprint(entries)
    config = tokenizer.config.to_dict()
    try:
        index = load_cache(cache_dir)
        if index.stats.get("fingerprint") == fingerprint and index.tokenizer_config.to_dict() == config:
            logger.info("reusing token cache %s (%d pieces)", cache_dir, len(index))
            return index
        logger.info("token cache %s is stale (files or tokenizer changed): rebuilding", cache_dir)
    except FileNotFoundError:
        pass
    except ValueError as err:
        logger.warning("token cache %s unreadable (%s): rebuilding", cache_dir, err)
    t0 = time.perf_counter()
    jobs = [(i, str(src / rel), config) for i, (src, rel) in enumerate(entries)]
    results = _encode_all(jobs, workers, progress)
    _write_cache(cache_dir, entries, results, config, fingerprint, time.perf_counter() - t0)
    return load_cache(cache_dir)


def _write_cache(cache_dir: Path, entries: list, results: list, config: dict, fingerprint: str, seconds: float) -> None:
    csv_maps: dict[Path, dict[str, str]] = {}
    pieces, arrays, broken, empty, shortened, offset = [], [], [], 0, 0, 0
    for (src, rel), (_, steps, n_short, err) in zip(entries, results):
        if steps is None:
            logger.warning("skipping broken MIDI file: %s", err)
            broken.append(str(src / rel))
            continue
        if len(steps) == 0:
            empty += 1
            continue
        if src not in csv_maps:
            found = _find_csv(src)
            csv_maps[src] = read_pijama_csv(found) if found else {}
        key, transcription = recording_key(rel)
        style = style_name(rel, csv_maps[src])
        pieces.append(Piece(rel, str(src), offset, len(steps), style, key, transcription or src.name))
        arrays.append(steps)
        offset += len(steps)
        shortened += n_short
    steps = np.concatenate(arrays) if arrays else np.zeros((0, 4), np.int16)
    stats = {"fingerprint": fingerprint, "n_files": len(entries), "n_broken": len(broken), "n_empty": empty,
             "n_steps": int(offset), "n_shortened_silences": shortened, "build_seconds": round(seconds, 1)}
    index = {"version": CACHE_VERSION, "tokenizer": config, "stats": stats, "broken": broken,
             "pieces": [p.__dict__ for p in pieces]}
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Write both to temporary names, then rename: a half-written cache never looks valid.
    (cache_dir / INDEX_FILE).unlink(missing_ok=True)  # the index last: steps without an index are no cache
    with atomic_open(cache_dir / STEPS_FILE) as f:
        np.save(f, steps, allow_pickle=False)
    write_atomic(cache_dir / INDEX_FILE, json.dumps(index, ensure_ascii=False))
    logger.info("token cache %s: %d pieces, %d steps, %d broken, %.1f s", cache_dir, len(pieces), offset,
                len(broken), seconds)


def load_cache(cache_dir: Path) -> CorpusIndex:
    """Open a cache built by build_cache (steps memory-mapped). Raises FileNotFoundError or ValueError."""
    cache_dir = Path(cache_dir)
    if not (cache_dir / INDEX_FILE).is_file() or not (cache_dir / STEPS_FILE).is_file():
        raise FileNotFoundError(f"no token cache in {cache_dir}")
    try:
        meta = json.loads((cache_dir / INDEX_FILE).read_text(encoding="utf-8"))
        if meta.get("version") != CACHE_VERSION:
            raise ValueError(f"cache version {meta.get('version')}, expected {CACHE_VERSION}")
        steps = np.load(cache_dir / STEPS_FILE, mmap_mode="r", allow_pickle=False)
        pieces = [Piece(**p) for p in meta["pieces"]]
        config = TokenizerConfig(**meta["tokenizer"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{cache_dir}: corrupt token cache ({err})") from err
    if steps.ndim != 2 or steps.shape[1] != 4 or steps.shape[0] != sum(p.length for p in pieces):
        raise ValueError(f"{cache_dir}: steps.npy shape {steps.shape} does not match index.json")
    return CorpusIndex(steps, pieces, config, meta["broken"], meta["stats"])


# -- split --------------------------------------------------------------------------------------------------------
def _unit_hash(key: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\0{_nfc(key)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_recording(
    index: CorpusIndex,
    val_fraction: float = 0.05,
    seed: int = 0,
    val_styles: Sequence[str] | None = None,
    val_style_fraction: float = 0.10,
    val_style_min: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """(train piece ids, val piece ids), by recording key: both transcriptions of a recording on the same side.

    Keys whose hash falls below `val_fraction` go to validation. Each style in `val_styles` (default: Art Tatum) gets
    exactly max(`val_style_min`, round(`val_style_fraction` * its recordings)) validation recordings, at most half.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    val_styles = DEFAULT_VAL_STYLES if val_styles is None else tuple(val_styles)
    key_style: dict[str, str] = {}
    for p in index.pieces:
        key_style.setdefault(p.key, p.style)
    val_keys = {k for k, s in key_style.items() if s not in val_styles and _unit_hash(k, seed) < val_fraction}
    for style in val_styles:
        keys = sorted((k for k, s in key_style.items() if s == style), key=lambda k: _unit_hash(k, seed))
        n = min(max(val_style_min, round(val_style_fraction * len(keys))), len(keys) // 2)
        val_keys.update(keys[:n])
    is_val = np.array([p.key in val_keys for p in index.pieces], dtype=bool)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)
