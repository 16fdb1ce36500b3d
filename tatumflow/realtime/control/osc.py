"""OSC control (python-osc): the live controls by name, for TouchOSC, Max or SuperCollider users.

`/tatumflow/<control> value` sets a control (e.g. `/tatumflow/temperature 0.8`, `/tatumflow/mode duet`,
`/tatumflow/mute 1`); `/tatumflow/panic` is all notes off. Localhost only by default. Every message goes through
the same `ControlSurface.set` as the CC map and the terminal UI; a bad name or value is counted in `errors` and
logged on one line.

Packets are handled one at a time on one daemon thread, as they arrive: a bundle's timetag is not waited for (a
control applies when it comes; python-osc's dispatcher would sleep until the timetag, years if the sender says so,
and a waiting handler thread held the process at exit). A bundle nested deeper than `MAX_NESTING` or a packet that
does not parse is dropped before python-osc parses it (it recursed, and printed a traceback per packet); whatever
a packet raises is counted in `dropped` and logged on one line, never a traceback. Repeated warnings are logged at
most once per `LOG_EVERY_S` with the count so far, so a flood cannot fill the terminal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from .knobs import KNOBS
from .surface import ControlSurface

log = logging.getLogger(__name__)
PREFIX = "/tatumflow/"
MAX_NESTING = 8  # bundles in bundles: deeper is dropped unparsed
BUNDLE = b"#bundle\x00"
LOG_EVERY_S = 5.0
KEEP_ERRORS = 50


def nesting(data: bytes, limit: int = MAX_NESTING) -> int | None:
    """How deep bundles nest in a packet (0: a message), without parsing it; None when deeper than `limit` or when
    an element's size runs past its bundle."""
    if not data.startswith(BUNDLE):
        return 0
    stack, deepest = [(0, len(data), 1)], 0
    while stack:
        start, end, depth = stack.pop()
        if depth > limit:
            return None
        deepest = max(deepest, depth)
        i = start + len(BUNDLE) + 8  # the timetag
        while i < end:
            size = int.from_bytes(data[i:i + 4], "big", signed=True)
            i += 4
            if size < 0 or i + size > end:
                return None
            if data[i:i + len(BUNDLE)] == BUNDLE:
                stack.append((i, i + size, depth + 1))
            i += size
    return deepest


class _Throttled:
    """One warning line at most every `LOG_EVERY_S` for a kind of trouble, with how many there were."""

    def __init__(self, what: str) -> None:
        self.what, self.count, self._said_at, self._said = what, 0, float("-inf"), 0

    def __call__(self, detail: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._said_at >= LOG_EVERY_S:
            more = self.count - self._said - 1
            log.warning("OSC: %s: %s%s", self.what, detail, f" ({more} more since the last line)" if more else "")
            self._said_at, self._said = now, self.count


class OscControl:
    def __init__(self, surface: ControlSurface, port: int, host: str = "127.0.0.1") -> None:
        from pythonosc.osc_server import BlockingOSCUDPServer

        self.surface = surface
        self.received = 0
        self.errors: deque[str] = deque(maxlen=KEEP_ERRORS)  # the latest refused messages, for a UI and tests
        self._refused = _Throttled("refused")
        self._drop = _Throttled("dropped a packet")
        owner = self

        class Server(BlockingOSCUDPServer):
            def verify_request(self, request, client_address) -> bool:
                if super().verify_request(request, client_address):
                    return True
                owner._drop("not an OSC message or bundle")
                return False

            def handle_error(self, request, client_address) -> None:  # socketserver printed a traceback here
                import sys

                err = sys.exc_info()[1]
                owner._drop(f"{type(err).__name__}: {str(err)[:200]}")

        try:
            self._server = Server((host, port), self._dispatcher())
        except OSError as err:
            raise OSError(f"OSC: cannot listen on {host}:{port} ({err.strerror or err})") from err
        self.address = self._server.server_address
        self._thread: threading.Thread | None = None

    @property
    def dropped(self) -> int:
        """Packets dropped whole (unparsable, nested too deep, or they raised)."""
        return self._drop.count

    def _dispatcher(self):
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_packet import OscPacket

        class AtOnce(Dispatcher):
            def call_handlers_for_packet(self, data: bytes, client_address) -> list:
                if nesting(data) is None:
                    raise ValueError(f"bundles nested deeper than {MAX_NESTING}, or an element past its end")
                for timed in OscPacket(data).messages:  # now, whatever the timetag
                    for handler in self.handlers_for_address(timed.message.address):
                        handler.invoke(client_address, timed.message)
                return []

        dispatcher = AtOnce()
        dispatcher.map(f"{PREFIX}*", self._on_message)
        dispatcher.set_default_handler(self._unknown)
        return dispatcher

    def _on_message(self, address: str, *args) -> None:
        self.received += 1
        name = address[len(PREFIX):]
        try:
            if name == "panic":
                self.surface.panic("osc")
                return
            if name not in KNOBS:
                raise ValueError(f"unknown control {name!r}; controls: {', '.join(KNOBS)}, panic")
            if len(args) != 1:
                raise ValueError(f"control {name}: one value expected, got {len(args)}")
            self.surface.set(name, args[0], "osc")
        except ValueError as err:
            self.errors.append(str(err))
            self._refused(f"{address[:100]}: {err}")

    def _unknown(self, address: str, *args) -> None:
        self.errors.append(f"unknown OSC address {address[:100]}; use {PREFIX}<control>")
        self._refused(self.errors[-1])

    def open(self) -> OscControl:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tatumflow-osc", daemon=True)
        self._thread.start()
        log.info("OSC: listening on %s:%d", *self.address[:2])
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> OscControl:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
