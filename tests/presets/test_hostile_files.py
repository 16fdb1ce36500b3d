"""Hostile preset and CC map files, and non-finite or huge values anywhere a value is validated: a one-line error
naming the setting, at most a few hundred characters (issue 27 items 22, 23)."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from tatumflow.cli import app
from tatumflow.fieldcheck import MAX_TOML_BYTES
from tatumflow.generate.controls import Controls
from tatumflow.generate.window import Window
from tatumflow.presets import load_preset
from tatumflow.realtime.control.ccmap import load_map
from tatumflow.realtime.engine.config import EngineConfig


def _message(loader, path) -> str:
    with pytest.raises(ValueError) as err:
        loader(str(path))
    text = str(err.value)
    assert "\n" not in text and len(text) < 400, text[:1000]
    return text


@pytest.mark.parametrize(("text", "setting"), [
    ('[controls]\nstyle = { "Art Tatum" = nan }\n', "style"),
    ('[controls]\nstyle = { "Art Tatum" = inf }\n', "style"),
    ('[controls]\nstyle = { "Art Tatum" = 1.0, "Bill Evans" = -inf }\n', "style"),
    ("[controls]\ntemperature = nan\n", "temperature"),
    ("[engine]\npoll_ms = 1e300\n", "poll_ms"),
    ("[engine]\npoll_ms = inf\n", "poll_ms"),
    ("[engine]\nsafety_margin_ms = nan\n", "safety_margin_ms"),
    ("[controls]\nseed = 18446744073709551615\n", "seed"),
])
def test_non_finite_and_huge_values_are_refused_naming_the_setting(tmp_path, text, setting):
    """[controls] when the preset loads; [engine] when the session's engine settings are built from it (the engine
    owns its settings: presets do not import realtime), before the model loads."""
    path = tmp_path / "mine.toml"
    path.write_text(text)
    loader = load_preset if "[engine]" not in text else _engine_settings
    assert setting in _message(loader, path)


@pytest.mark.parametrize("loader", [load_preset, load_map], ids=["preset", "ccmap"])
@pytest.mark.parametrize("text", [
    "a = " + "[" * 100_000 + "]" * 100_000 + "\n",  # 100,000 deep: too large
    "a = " + "[" * 30_000 + "]" * 30_000 + "\n",  # under the size limit, deeper than tomllib's stack
    'description = "' + "x" * 10_000_000 + '"\n',
    "[controls]\n" + "x" * 50_000 + " = 1\n",
    '[engine]\nmode = "' + "j" * 50_000 + '"\n',
], ids=["deep", "deep-small", "10MB-value", "long-key", "long-mode"])
def test_hostile_toml_is_one_short_line(tmp_path, loader, text):
    path = tmp_path / "hostile.toml"
    path.write_text(text)
    if loader is load_preset and "[engine]" in text:  # the engine checks its table when its settings are built
        loader = _engine_settings
    _message(loader, path)


def _engine_settings(path: str) -> EngineConfig:
    return EngineConfig.from_preset(load_preset(path).engine)


def test_the_size_limit_is_stated(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * MAX_TOML_BYTES + "\n")
    assert f"larger than {MAX_TOML_BYTES:,} bytes" in _message(load_preset, path)


@pytest.mark.parametrize("target", ["/proc/self/mem", "locked", "folder"])
def test_controls_with_an_unreadable_map_is_one_line(tmp_path, target):
    locked = tmp_path / "locked"
    locked.write_text("[cc]\n")
    locked.chmod(0)
    (tmp_path / "folder").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    result = CliRunner().invoke(app, ["controls", "--controls", path])
    if target == "locked" and result.exit_code == 0:
        pytest.skip("root reads a file of mode 000")
    assert result.exit_code == 2 and result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output


@pytest.mark.parametrize(("changes", "setting"), [
    ({"style": {"Art Tatum": math.nan}}, "style"),
    ({"style": {"Art Tatum": math.inf}}, "style"),
    ({"style": {"Art Tatum": 1.0, "x": math.nan}}, "style"),
    ({"top_k": 10**20}, "top_k"),
    ({"temperature": math.nan}, "temperature"),
])
def test_controls_refuse_non_finite_values(changes, setting):
    with pytest.raises(ValueError, match=setting):
        Controls(**changes)


@pytest.mark.parametrize(("changes", "setting"), [({"seed": 2**64}, "seed"), ({"seed": -1}, "seed"),
                                                  ({"end_s": math.inf}, "end_s"), ({"max_notes": 10**9}, "max_notes")])
def test_windows_refuse_huge_and_non_finite_values(changes, setting):
    with pytest.raises(ValueError, match=setting):
        Window(**changes)


@pytest.mark.parametrize("name", ["poll_ms", "latency_budget_ms", "silence_threshold_s", "hold_grace_s",
                                  "echo_window_ms", "safety_margin_ms"])
@pytest.mark.parametrize("value", [math.nan, math.inf, 1e300])
def test_engine_settings_refuse_non_finite_and_huge_values(name, value):
    with pytest.raises(ValueError, match=name):
        EngineConfig(**{name: value})


def test_a_seed_of_2_64_is_refused_before_the_model_loads(tmp_path):
    result = CliRunner().invoke(app, ["generate", "--out", str(tmp_path / "o.mid"), "--seed", str(2**64),
                                      "--checkpoint", str(tmp_path / "no-such-checkpoint")])
    assert result.exit_code == 2 and "seed must be in" in result.output, result.output
