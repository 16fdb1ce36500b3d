"""A hostile checkpoint config is refused before anything is allocated: types, ranges, then the weights' header
(issue 27 item 18). Each load runs in a child under a 2 GiB address-space cap, so a check that comes too late
fails the test (MemoryError / RuntimeError traceback) instead of taking the machine's memory."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

from tatumflow.model.checkpoint import MAX_CONFIG_BYTES, Checkpoint, save_checkpoint
from tatumflow.model.tokenizer import Tokenizer

from ..tiny import STYLES, tiny_model

_LOAD = ("import sys; from tatumflow.model.checkpoint import load_checkpoint\n"
         "for path in sys.argv[1:]:\n    try:\n        load_checkpoint(path)\n    except ValueError as err:\n"
         "        print(path, 'ValueError:', err)\n    else:\n        print(path, 'loaded')\n")


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


def _load(*paths) -> dict[str, str]:
    """What loading each checkpoint gives, all in one capped child (importing torch once)."""
    proc = subprocess.run([sys.executable, "-c", _LOAD, *map(str, paths)], capture_output=True, text=True,
                          timeout=300, preexec_fn=_capped)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("c") / "ckpt", Checkpoint(tiny_model(), Tokenizer(), STYLES))


def _with(saved, out, edit) -> object:
    """A copy of the saved checkpoint with its config.json edited (`edit(config)` changes it in place or returns
    a new text)."""
    out.mkdir()
    (out / "model.safetensors").write_bytes((saved / "model.safetensors").read_bytes())
    config = json.loads((saved / "config.json").read_text())
    text = edit(config)
    (out / "config.json").write_text(text if isinstance(text, str) else json.dumps(config))
    return out


def _vocab(n: int):
    def edit(c):
        c["model"]["vocab_sizes"][0] = n
        c["tokenizer"]["n_delta"] = n
    return edit


HOSTILE = {
    "d_model": (lambda c: c["model"].update(d_model=1_000_000), "d_model must be in"),
    "layers": (lambda c: c["model"].update(n_layers=10_000), "n_layers must be in"),
    "context": (lambda c: c["model"].update(context_steps=2_000_000_000), "context_steps must be in"),
    "vocab": (_vocab(50_000_000), "must be in"),
    "float": (lambda c: c["model"].update(d_model=32.0), "d_model must be an integer"),
    "nan-rope": (lambda c: c["model"].update(rope_base=float("nan")), "rope_base must be finite"),
    "inf-rope": (lambda c: c["model"].update(rope_base=float("inf")), "rope_base must be finite"),
    "layers-vs-weights": (lambda c: c["model"].update(n_layers=3), "weights do not match the config"),
    "d_model-vs-weights": (lambda c: c["model"].update(d_model=64), "has shape"),
    "sane": (lambda c: c["model"].update(context_steps=60_000), "loaded"),  # sane, and buffers only: loads
    "list": (lambda c: json.dumps([1, 2, 3]), "must be a JSON object, got a list"),
    "model-list": (lambda c: json.dumps(dict(c, model=[1])), "must be a table of settings"),
    "styles-string": (lambda c: json.dumps(dict(c, styles="none")), "styles must be a list"),
    "deep": (lambda c: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "huge": (lambda c: json.dumps(dict(c, meta="x" * (MAX_CONFIG_BYTES + 1))),
             f"larger than {MAX_CONFIG_BYTES:,} bytes"),
}


@pytest.fixture(scope="module")
def loaded(saved, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("hostile")
    paths = {case: _with(saved, root / case, edit) for case, (edit, _) in HOSTILE.items()}
    got = _load(*paths.values())
    return {case: got[str(path)] for case, path in paths.items()}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_configs_are_refused_before_allocating(loaded, case):
    out, says = loaded[case], HOSTILE[case][1]
    assert says in out and len(out) < 500, out[:2000]


def test_a_lying_weights_header_is_refused_before_loading(saved, tmp_path):
    """The config is sane; the header claims a 50,000 x 32 embedding the file does not hold."""
    ckpt = _with(saved, tmp_path / "ckpt", lambda c: None)
    data = (ckpt / "model.safetensors").read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    name = next(k for k in header if k.endswith("field_emb.0.weight"))
    header[name]["shape"] = [50_000, 32]
    text = json.dumps(header).encode()
    (ckpt / "model.safetensors").write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size:])
    (out,) = _load(ckpt).values()
    assert out.startswith("ValueError:"), out
