"""OSC over UDP on 127.0.0.1 with a real python-osc client: the same controls by name."""

from __future__ import annotations

import logging
import socket
import threading
import time

from pythonosc.udp_client import SimpleUDPClient

from tatumflow.realtime.control.osc import OscControl
from tatumflow.realtime.control.surface import ControlSurface

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


def _bundle(content: bytes, timetag: bytes = (1).to_bytes(8, "big")) -> bytes:
    """An OSC bundle of one element (written out: python-osc's builder recurses)."""
    return b"#bundle\x00" + timetag + len(content).to_bytes(4, "big") + content


def _message(address: str, value: float) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address)
    b.add_arg(value)
    return b.build().dgram


def _close_within(osc: OscControl, limit_s: float) -> bool:
    closer = threading.Thread(target=osc.close, daemon=True)
    closer.start()
    closer.join(limit_s)
    return not closer.is_alive()


def test_a_bundle_timetagged_years_ahead_applies_now_and_never_holds_the_exit():
    """Issue 27 item 17: python-osc's dispatcher slept until a bundle's timetag (years ahead) in a handler thread
    that the server waited for at exit (> 30 s; a second Ctrl-C exited 130). The control applies when it comes."""
    s = SimSession()
    osc = OscControl(ControlSurface(s.engine), 0).open()
    years = ((int(time.time()) + 2_208_988_800 + 5 * 365 * 86400) << 32).to_bytes(8, "big")  # NTP: since 1900
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(_bundle(_message("/tatumflow/temperature", 0.5), years), osc.address[:2])
        applied = _wait(lambda: abs(s.engine.controls.temperature - 0.5) < 1e-6)
    assert _close_within(osc, 3.0), "close waited for a handler"
    assert applied, "the bundle's control was not applied when it came"


def test_deep_bundles_and_garbage_are_dropped_on_one_line_and_counted(capfd, caplog):
    """A 2,500-deep nested bundle printed a ~1,000-line traceback into the jam terminal per packet. Deep nesting,
    truncated bundles and packets that do not parse are dropped and counted; what is logged is one line at a time
    (at most one per few seconds under a flood); the next good message still works."""
    s = SimSession()
    deep = _message("/tatumflow/temperature", 0.9)
    for _ in range(2_500):
        deep = _bundle(deep)
    nested_ok = _bundle(_bundle(_message("/tatumflow/temperature", 0.7)))
    with caplog.at_level(logging.WARNING), OscControl(ControlSurface(s.engine), 0) as osc, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        bad = [deep, deep[:-3], _bundle(b"\x00\x00"), b"#bundle\x00" + b"\xff" * 12, b"/tatumflow/x\x00\x00\x00\x00,zz"]
        for packet in bad * 20:
            sock.sendto(packet, osc.address[:2])
            time.sleep(0.002)  # (a kernel's socket buffer holds a few of the 50 kB ones)
        sock.sendto(nested_ok, osc.address[:2])
        assert _wait(lambda: abs(s.engine.controls.temperature - 0.7) < 1e-6, 5.0)
        dropped = getattr(osc, "dropped", 0)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and len((out + err).splitlines()) <= 5, (out + err)[-2000:]
    assert dropped >= 60, dropped
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("osc")]
    assert 1 <= len(lines) <= 3 and all("\n" not in m and len(m) < 400 for m in lines), lines
