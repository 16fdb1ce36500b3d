"""Token cache, styles, split by recording, augmentation and batches (tatumflow.train.data)."""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from tatumflow.model.tokenizer import DELTA, DURATION, PITCH, VELOCITY, Tokenizer, TokenizerConfig
from tatumflow.notes import Note, read_midi, write_midi
from tatumflow.train import batches, data
from tatumflow.train.batches import Augment, StepDataset, iter_windows, sample_batch
from tatumflow.train.config import TrainConfig
from tatumflow.train.data import (
    build_cache,
    load_cache,
    read_pijama_csv,
    scan_midi,
    split_by_recording,
    style_ids,
    style_vocab,
)

PIJAMA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pijama"

# (pianist folder, album, title, number of notes); Tatum gets 12 recordings so the split can hold out 5.
RECORDINGS = [("Art Tatum", "Solo Masterpieces", f"Tune {i}", 30 + 7 * i) for i in range(12)] + [
    ("Teddy Wilson", "Café Society", "Don't Blame Me, Please", 200),
    ("Earl Hines", "Live", "Rosetta", 5),
    ("Erroll Garner", "Concert", "Misty", 80),
]


def _notes(n: int, seed: int) -> list[Note]:
    rng = np.random.default_rng(seed)
    onsets = np.cumsum(rng.uniform(0.0, 0.3, size=n))
    return [Note(float(t), float(rng.uniform(0.05, 2.0)), int(rng.integers(30, 100)), int(rng.integers(20, 120)))
            for t in onsets]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """root/{kong,hawthorne}/studio/<pianist>/<album>/<title>.midi, a broken file, and a pijama.csv for some files."""
    root = tmp_path_factory.mktemp("pijama")
    rows = []
    for i, (pianist, album, title, n) in enumerate(RECORDINGS):
        rel = f"studio/{pianist}/{album}/{title}.midi"
        for j, transcription in enumerate(("kong", "hawthorne")):
            path = root / transcription / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            write_midi(path, _notes(n, seed=10 * i + j))
        if pianist != "Erroll Garner":  # Garner falls back to the folder name
            rows.append({"artist": "Teddy Wilson (csv)" if pianist == "Teddy Wilson" else pianist,
                         "midi_filepath": f"data/midi/{rel}"})
    (root / "kong" / "studio" / "Earl Hines" / "Live" / "broken.mid").write_bytes(b"MThd\x00\x00garbage")
    (root / "hawthorne" / "loose.mid").parent.mkdir(exist_ok=True)
    write_midi(root / "hawthorne" / "loose.mid", _notes(20, seed=99))  # too shallow for a pianist folder
    with open(root / "pijama.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["artist", "midi_filepath"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def index(corpus, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return build_cache([corpus / "kong", corpus / "hawthorne"], cache, Tokenizer(), workers=2)


def test_scan_midi_finds_both_suffixes_sorted(corpus):
    files = scan_midi([corpus / "kong", corpus / "hawthorne"])
    assert len(files) == 2 * len(RECORDINGS) + 2
    assert files == sorted(files)
    assert {f.suffix for f in files} == {".mid", ".midi"}
    with pytest.raises(FileNotFoundError):
        scan_midi([corpus / "nope"])


def test_cache_contents(index, corpus):
    assert len(index) == 2 * len(RECORDINGS) + 1
    assert index.stats["n_broken"] == 1 and index.broken[0].endswith("broken.mid")
    assert index.steps.dtype == np.int16 and index.steps.shape == (sum(index.lengths), 4)
    tok = Tokenizer()
    for i, p in enumerate(index.pieces):
        expected, _ = tok.encode(read_midi(Path(p.source) / p.path))
        np.testing.assert_array_equal(index.piece_steps(i), expected)
    by_path = {(p.transcription, p.path): p for p in index.pieces}
    kong = by_path[("kong", "studio/Teddy Wilson/Café Society/Don't Blame Me, Please.midi")]
    hawthorne = by_path[("hawthorne", kong.path)]
    assert kong.key == hawthorne.key == "studio/Teddy Wilson/Café Society/Don't Blame Me, Please"
    assert kong.style == "Teddy Wilson (csv)"  # the csv wins over the folder name
    assert by_path[("kong", "studio/Erroll Garner/Concert/Misty.midi")].style == "Erroll Garner"
    assert by_path[("hawthorne", "loose.mid")].style == "unknown"


def test_style_vocab_starts_with_none(index):
    vocab = style_vocab(index)
    assert vocab[0] == "none" and vocab[1:] == sorted(vocab[1:]) and "Art Tatum" in vocab
    ids = style_ids(index, vocab)
    assert all(vocab[ids[i]] == p.style for i, p in enumerate(index.pieces))


def test_cache_reused_and_rebuilt(index, corpus, tmp_path, monkeypatch):
    dirs = [corpus / "kong", corpus / "hawthorne"]
    build_cache(dirs, tmp_path, Tokenizer(), workers=1)
    monkeypatch.setattr(data, "_encode_all", lambda *a: pytest.fail("cache not reused"))
    again = build_cache(dirs, tmp_path, Tokenizer(), workers=1)
    assert len(again) == len(index)
    monkeypatch.undo()
    other = build_cache(dirs, tmp_path, Tokenizer(TokenizerConfig(n_velocity=16)), workers=1)
    assert other.tokenizer_config.n_velocity == 16
    fewer = build_cache(dirs[:1], tmp_path, Tokenizer(TokenizerConfig(n_velocity=16)), workers=1)
    assert {p.transcription for p in fewer.pieces} == {"kong"}
    # no folders: the cache alone, as carried to a machine without the MIDI; never rebuilt, never a silent mismatch
    monkeypatch.setattr(data, "_encode_all", lambda *a: pytest.fail("a cache-only load must not encode"))
    alone = build_cache([], tmp_path, Tokenizer(TokenizerConfig(n_velocity=16)))
    assert len(alone) == len(fewer) and alone.tokenizer_config.n_velocity == 16
    with pytest.raises(ValueError, match="another tokenizer config"):
        build_cache([], tmp_path, Tokenizer())
    with pytest.raises(FileNotFoundError, match="no token cache"):
        build_cache([], tmp_path / "none", Tokenizer())


def test_cache_files_need_no_pickle(index, tmp_path):
    cache = tmp_path / "c"
    built = build_cache([Path(index.pieces[0].source)], cache, Tokenizer(), workers=1)
    meta = json.loads((cache / "index.json").read_text(encoding="utf-8"))
    assert meta["tokenizer"] == Tokenizer().config.to_dict() and len(meta["pieces"]) == len(built)
    arr = np.load(cache / "steps.npy", allow_pickle=False)
    assert arr.dtype == np.int16
    source = Path(data.__file__).read_text() + Path(batches.__file__).read_text()
    assert "import pickle" not in source and "allow_pickle=True" not in source
    (cache / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        load_cache(cache)


def test_split_keeps_recordings_together(index):
    train, val = split_by_recording(index, val_fraction=0.3, seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(index)
    train_keys = {index.pieces[i].key for i in train}
    val_keys = {index.pieces[i].key for i in val}
    assert not train_keys & val_keys
    tatum_val = {k for k in val_keys if k.startswith("studio/Art Tatum/")}
    assert len(tatum_val) == 5  # max(5, 10 % of 12), at most half
    again = split_by_recording(index, val_fraction=0.3, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))
    _, none_held = split_by_recording(index, val_fraction=0.0, val_styles=())
    assert len(none_held) == 0


def test_augment_keeps_ranges_and_padding():
    config = TokenizerConfig()
    rng = np.random.default_rng(0)
    B, T = 64, 50
    steps = np.stack([rng.integers(0, n, size=(B, T)) for n in config.vocab_sizes], axis=-1)
    steps[0, :, PITCH] = 0  # lowest key: cannot go down
    steps[1, :, PITCH] = config.n_pitch - 1  # highest key: cannot go up
    steps[2, :, PITCH] = np.arange(T) % 2 * (config.n_pitch - 1)  # full range: no transposition
    mask = np.ones((B, T), dtype=bool)
    mask[3, 10:] = False
    steps[3, 10:] = 0
    before = steps.copy()
    Augment().apply(steps, mask, rng, config)
    assert (steps >= 0).all() and (steps < np.array(config.vocab_sizes)).all()
    np.testing.assert_array_equal(steps[2, :, PITCH], before[2, :, PITCH])
    assert (steps[3, 10:] == 0).all()
    shift = steps[:, 0, PITCH] - before[:, 0, PITCH]
    assert (shift >= -5).all() and (shift <= 6).all() and len(set(shift)) > 5
    assert (np.abs(steps[..., VELOCITY] - before[..., VELOCITY]) <= 1).all()
    ratio = steps[..., DELTA][before[..., DELTA] > 100] / before[..., DELTA][before[..., DELTA] > 100]
    assert ((ratio > 0.94) & (ratio < 1.06)).all()
    assert (np.abs(steps[..., DURATION] - before[..., DURATION]) <= 1).all()
    with pytest.raises(ValueError):
        Augment(transpose_min=2)


def test_articulation_moves_a_crops_durations_together_and_leaves_its_gaps():
    config = TokenizerConfig()
    rng = np.random.default_rng(1)
    B, T = 200, 40
    steps = np.stack([rng.integers(0, n, size=(B, T)) for n in config.vocab_sizes], axis=-1)
    steps[..., DURATION] = rng.integers(5, config.n_duration - 5, size=(B, T))  # away from the ends: no clipping
    before = steps.copy()
    Augment(stretch_min=1.0, stretch_max=1.0, articulation_bins=2).apply(steps, np.ones((B, T), bool), rng, config)
    moved = steps[..., DURATION] - before[..., DURATION]
    assert (moved == moved[:, :1]).all()  # one shift per crop
    assert set(moved[:, 0]) == {-2, -1, 0, 1, 2}
    np.testing.assert_array_equal(steps[..., DELTA], before[..., DELTA])  # the timing is the crop's own
    with pytest.raises(ValueError, match="articulation_bins"):
        Augment(articulation_bins=-1)
    with pytest.raises(ValueError, match="tempo_stretch"):
        TrainConfig(tempo_stretch=1.0)


def test_batches(index):
    vocab = style_vocab(index)
    ids = style_ids(index, vocab)
    train, _ = split_by_recording(index)
    rng = np.random.default_rng(0)
    batch = sample_batch(index, train, 16, 64, rng, Augment(), ids, style_dropout=0.0)
    assert batch["steps"].shape == (16, 64, 4) and batch["steps"].dtype == np.int64
    assert batch["mask"].shape == (16, 64) and batch["mask"].dtype == bool
    assert batch["style"].shape == (16,) and batch["style"].dtype == np.int64
    assert (batch["steps"][:, 0, DELTA] == 0).all()
    assert (batch["style"] == ids[batch["piece"]]).all()
    tok = Tokenizer()
    tok.check(batch["steps"].reshape(-1, 4))
    # Short pieces (Earl Hines, 5 notes) are padded with the mask False.
    hines = [i for i, p in enumerate(index.pieces) if p.style == "Earl Hines"]
    short = StepDataset(index, hines, ids).sample(4, 64, rng, None, 0.0)
    assert (short["mask"].sum(axis=1) == 5).all() and (short["steps"][:, 5:] == 0).all()
    np.testing.assert_array_equal(short["steps"][0, 1:5], index.piece_steps(short["piece"][0])[1:5])


def test_style_dropout_and_weights(index):
    ids = style_ids(index, style_vocab(index))
    everything = np.arange(len(index))
    rng = np.random.default_rng(1)
    ds = StepDataset(index, everything, ids)
    styles = ds.sample(4000, 8, rng, None, style_dropout=0.25)["style"]
    assert 0.22 < np.mean(styles == 0) < 0.28
    tatum = np.array([p.style == "Art Tatum" for p in index.pieces])
    base = tatum[ds.sample(4000, 8, rng)["piece"]].mean()
    heavy = StepDataset(index, everything, ids, weights={"Art Tatum": 3.0})
    boosted = tatum[heavy.sample(4000, 8, rng)["piece"]].mean()
    share = index.lengths[tatum].sum() / index.lengths.sum()
    assert abs(base - share) < 0.04
    assert abs(boosted - 3 * share / (3 * share + 1 - share)) < 0.04


def test_validation_windows_cover_every_step(index):
    ids = style_ids(index, style_vocab(index))
    _, val = split_by_recording(index)
    seen = {int(i): 0 for i in val}
    for batch in iter_windows(index, val, batch_size=3, seq_len=16, style_ids=ids):
        assert batch["steps"].shape[1:] == (16, 4) and (batch["steps"][:, 0, DELTA] == 0).all()
        for row, (i, start) in enumerate(zip(batch["piece"], batch["start"])):
            n = int(batch["mask"][row].sum())
            np.testing.assert_array_equal(batch["steps"][row, 1:n], index.piece_steps(i)[start + 1 : start + n])
            seen[int(i)] += n
    assert seen == {int(i): index.pieces[int(i)].length for i in val}


@pytest.mark.corpus
def test_pijama_layout_and_csv():
    if not PIJAMA.is_dir():
        pytest.skip(f"PiJAMA not found at {PIJAMA}")
    artists = read_pijama_csv(PIJAMA / "pijama.csv")
    kong = scan_midi([PIJAMA / "kong"])
    rels = [f.relative_to(PIJAMA / "kong").as_posix() for f in kong]
    assert len(rels) == len(artists)
    unmatched = [r for r in rels if unicodedata.normalize("NFC", r) not in artists]
    assert not unmatched, f"{len(unmatched)} files not in pijama.csv, e.g. {unmatched[:3]}"
    assert sum(data.style_name(r, artists) == "Art Tatum" for r in rels) >= 100
