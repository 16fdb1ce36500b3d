"""The live path with the real model (the embedded default, or $TATUMFLOW_TEST_CHECKPOINT): a phrase played in
real time gets its reply within the latency goal."""

from __future__ import annotations

from tatumflow.realtime.engine.config import EngineConfig
from tatumflow.realtime.engine.engine import build_engine
from tatumflow.realtime.ports.sinks import MODEL, MemorySink
from tatumflow.realtime.session.demo import play_as_human, wait_for_reply

from .conftest import assert_balanced, phrase


def test_real_model_replies_within_the_budget(real_generator):
    sink = MemorySink()
    config = EngineConfig(silence_threshold_s=0.5, max_reply_s=2.0)
    engine = build_engine(real_generator, [sink], config=config, model_name="real")
    engine.start()
    try:
        for pitch in (60, 65):
            before = engine.stats.replies
            play_as_human(engine, phrase(start_s=0.0, n=8, gap_s=0.15, pitch=pitch), engine.clock)
            wait_for_reply(engine, before, timeout_s=6.0)
    finally:
        report = engine.stop()
    assert report["replies"] == 2 and report["notes_sent"] > 0
    assert report["reply_ms_p99"] is not None and report["reply_ms_p99"] < 150
    assert report["stuck_notes"] == 0
    assert_balanced([(t, m) for t, track, m in sink.messages if track == MODEL])
