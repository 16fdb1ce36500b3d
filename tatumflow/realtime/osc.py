"""OSC control (python-osc): the live controls by name, for TouchOSC, Max or SuperCollider users.

`/tatumflow/<control> value` sets a control (e.g. `/tatumflow/temperature 0.8`, `/tatumflow/mode duet`,
`/tatumflow/mute 1`); `/tatumflow/panic` is all notes off. Localhost only by default. Every message goes through
the same `ControlSurface.set` as the CC map and the terminal UI; a bad name or value is logged on one line and
counted in `errors`.
"""

from __future__ import annotations

import logging
import threading

from .knobs import KNOBS
from .surface import ControlSurface

log = logging.getLogger(__name__)
PREFIX = "/tatumflow/"


class OscControl:
    def __init__(self, surface: ControlSurface, port: int, host: str = "127.0.0.1") -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import ThreadingOSCUDPServer

        self.surface = surface
        self.received = 0
        self.errors: list[str] = []
        dispatcher = Dispatcher()
        dispatcher.map(f"{PREFIX}*", self._on_message)
        dispatcher.set_default_handler(self._unknown)
        try:
            self._server = ThreadingOSCUDPServer((host, port), dispatcher)
        except OSError as err:
            raise OSError(f"OSC: cannot listen on {host}:{port} ({err.strerror or err})") from err
        self.address = self._server.server_address
        self._thread: threading.Thread | None = None

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
            log.warning("OSC %s: %s", address, err)

    def _unknown(self, address: str, *args) -> None:
        self.errors.append(f"unknown OSC address {address}; use {PREFIX}<control>")
        log.warning("%s", self.errors[-1])

    def open(self) -> OscControl:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="tatumflow-osc", daemon=True)
        self._thread.start()
        log.info("OSC: listening on %s:%d", *self.address[:2])
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> OscControl:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
