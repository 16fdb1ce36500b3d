"""`jam --record` files are meant to be shared: 0644 under the usual umask, as every other output (issue 27 item
12; mkstemp made them 0600)."""

import os
import stat

from tatumflow.notes import read_midi_tracks
from tatumflow.realtime.ports.sinks import HUMAN, RecorderSink

from .test_io import on


def test_recordings_are_written_0644(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "session.mid"
        with RecorderSink(path) as rec:
            rec.send(on(60), HUMAN, 0.5)
            rec.flush()
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert len(read_midi_tracks(path)["human"]) == 1
