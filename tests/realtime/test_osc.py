"""OSC over UDP on 127.0.0.1 with a real python-osc client: the same controls by name."""

from __future__ import annotations

import time

from pythonosc.udp_client import SimpleUDPClient

from tatumflow.realtime.osc import OscControl
from tatumflow.realtime.surface import ControlSurface

from .conftest import SimSession


def _wait(cond, timeout_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_osc_sets_controls_by_name():
    s = SimSession()
    surface = ControlSurface(s.engine)
    with OscControl(surface, 0) as osc:  # port 0: any free port
        host, port = osc.address[:2]
        assert host == "127.0.0.1"
        client = SimpleUDPClient(host, port)
        client.send_message("/tatumflow/temperature", 0.8)
        client.send_message("/tatumflow/mode", "duet")
        client.send_message("/tatumflow/pitch_high", 70)
        client.send_message("/tatumflow/panic", [])
        client.send_message("/tatumflow/temperature", 9.0)  # out of range: refused, logged
        client.send_message("/tatumflow/tempo", 1.0)  # unknown
        assert _wait(lambda: osc.received >= 6)
    assert abs(s.engine.controls.temperature - 0.8) < 1e-6 and s.engine.config.mode == "duet"  # OSC float32
    assert s.engine.controls.pitch_high == 70 and surface.panics == 1
    assert any("out of range" in e for e in osc.errors) and any("unknown control 'tempo'" in e for e in osc.errors)
