"""The session's outputs have one owner (outputs.py), the panic one definition (panic.py), the engine one
configuration (config.Settings)."""

from __future__ import annotations

import mido

from tatumflow.realtime.ports import deadman
from tatumflow.realtime.ports.outputs import Outputs
from tatumflow.realtime.ports.panic import every_key, panic_messages
from tatumflow.realtime.ports.sinks import HUMAN, MODEL, MemorySink, RecorderSink

from .conftest import SimSession, assert_balanced, phrase


class Port(MemorySink):
    """A port as the owner sees it: it goes with the server and comes back, and carries clock."""

    is_output = True
    carries_clock = True

    def __init__(self) -> None:
        super().__init__("port", (MODEL,))
        self.events: list[str] = []

    def server_lost(self) -> None:
        self.events.append("lost")

    def reopen(self) -> None:
        self.events.append("reopen")


def test_the_owner_acts_on_every_kind_of_sink_without_asking_what_it_is(tmp_path):
    port, memory = Port(), MemorySink()
    recorder = RecorderSink(tmp_path / "r.mid", flush_s=3600)
    outputs = Outputs([port, memory, recorder])
    outputs.server_lost()
    outputs.reopen()
    outputs.check()
    outputs.tempo_change(0.0, 120.0)
    outputs.clock("clock", 0.1)
    assert port.events == ["lost", "reopen"]
    assert [m.type for _, _, m in port.messages] == ["clock"] and memory.messages == []  # clock: ports alone
    assert outputs.send(mido.Message("note_on", note=60, velocity=80), MODEL, 0.2)
    assert outputs.sounding == 3
    outputs.panic(0.3)
    assert outputs.sounding == 0
    recorder.close()


def test_a_silence_spares_the_sinks_that_keep_the_human(tmp_path):
    model_only, both = MemorySink(tracks=(MODEL,)), MemorySink(tracks=(MODEL, HUMAN))
    outputs = Outputs([model_only, both])
    outputs.send(mido.Message("note_on", note=60, velocity=80), MODEL, 0.0)
    outputs.echo(mido.Message("note_on", channel=1, note=40, velocity=80), 0.0)
    outputs.panic(0.1, model_only=True)
    assert model_only.sounding == 0 and both.sounding == 2


def test_the_dead_mans_switch_sends_the_sessions_panic():
    assert deadman.panic_messages([0, 3]) == panic_messages(every_key([0, 3]), range(16), sound_off=True)
    session = panic_messages({(0, 60), (1, 40)}, {0, 1})
    assert [(m.type, m.channel) for m in session[:2]] == [("note_off", 0), ("note_off", 1)]
    assert [(m.control, m.channel) for m in session[2:]] == [(64, 0), (123, 0), (64, 1), (123, 1)]


def test_a_sink_added_later_reaches_the_engine_the_scheduler_and_the_stop():
    s = SimSession("duet")
    tap = MemorySink("tap", (MODEL, HUMAN))
    s.engine.outputs.add(tap)
    s.play(phrase(start_s=0.2, n=8, gap_s=0.15))
    s.run_until(4.0)
    s.engine.stop()
    kinds = {(track, m.type) for _, track, m in tap.messages}
    assert (MODEL, "note_on") in kinds and (HUMAN, "note_on") in kinds
    assert_balanced([(t, m) for t, track, m in tap.messages if track == MODEL])


def test_a_live_change_reaches_every_part_that_reads_the_configuration():
    s = SimSession("call-response")
    s.engine.update_config(silence_threshold_s=1.25, mode="duet")
    engine = s.engine
    assert engine.config.silence_threshold_s == 1.25
    for part in (engine._mode, engine._planner, engine._outbox):
        settings = part._settings
        assert settings.current is engine.config  # one configuration, no copy
