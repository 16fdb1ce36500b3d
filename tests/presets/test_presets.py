import pytest

from tatumflow.generate.controls import Controls
from tatumflow.presets import DEFAULT_PRESET, controls_from, load_preset, preset_names


def test_the_four_presets_load_into_controls():
    assert set(preset_names()) >= {"tatum", "stride", "ballad", "bebop"}
    assert DEFAULT_PRESET == "tatum"
    for name in preset_names():
        preset = load_preset(name)
        assert isinstance(preset.controls, Controls) and preset.description
        assert preset.engine["mode"] in ("call-response", "duet", "continue")
    assert load_preset("tatum").controls.style == {"Art Tatum": 1.0}


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid presets: ballad, bebop, stride, tatum"):
        load_preset("swing")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[controls]\ntemperature = -1\n", "temperature must be in"),
        ("[controls]\nwarmth = 1\n", "unknown setting.*warmth"),
        ("controls = 5\n", r"\[controls\] must be a table of settings, got 5"),
        ("engine = \"x\"\n", r"\[engine\] must be a table of settings, got 'x'"),
        ("[controls]\ntop_k = 2.5\n", "top_k must be an integer, got 2.5"),
        ("[controls]\ntemperature = true\n", "temperature must be a number, got True"),
        ("[controls]\ntemperature = \"hot\"\n", "temperature must be a number, got 'hot'"),
        ("[controls]\nhead_temperature = [1, 2]\n", "head_temperature must be a list of 4 numbers"),
        ("description = 3\n", "description must be a string"),
        ("\xff\xfe", "invalid TOML"),
        ("[sound]\nx = 1\n", "unknown tables"),
        ("[controls\n", "invalid TOML"),
        ("[controls]\nstyle = { \"Art Tatum\" = -1.0 }\n", "style weights"),
    ],
)
def test_bad_preset_files_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_preset(str(path))


def test_overrides_apply_and_are_validated():
    c = controls_from("ballad", temperature=0.5, top_k=None)
    assert c.temperature == 0.5 and c.window_s == 3.0
    with pytest.raises(ValueError, match="top_p"):
        controls_from("tatum", top_p=0.0)


@pytest.mark.parametrize(("text", "message"), [
    ("[engine]\nsilence_threshold_s = \"0.5\"\n", "silence_threshold_s must be a number"),
    ("[engine]\nmode = \"jam\"\n", "unknown mode 'jam'"),
    ("[engine]\nlatency = 5\n", "unknown setting.*latency"),
])
def test_bad_engine_tables_are_clear_errors_where_the_engine_reads_them(tmp_path, text, message):
    """The preset keeps its `[engine]` table as written; the engine's configuration checks it (the jam session does
    so before anything opens, tests/test_cli_errors.py)."""
    from tatumflow.realtime.engine.config import EngineConfig

    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        EngineConfig.from_table(load_preset(str(path)).engine, "preset mine [engine]")
