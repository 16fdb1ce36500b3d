"""Noticing that the MIDI server went away (and came back), for the session.

python-rtmidi says nothing when the JACK server dies: its clients go on "sending" into the void. `JackWatch` opens
a port-less JACK client of its own through libjack (ctypes) and registers `jack_on_shutdown`: libjack calls it from
its socket thread as soon as the server is gone (measured: within milliseconds of a kill -9 of jackd). While the
server is away, `server_running()` probes for it (a client opened and closed again, once a second at most). libjack's
own messages ("Cannot connect to server socket", ...) go to this module's logger at debug level instead of stderr.
ALSA and CoreMIDI have no server to lose: `watch_for(api)` gives a `NullWatch` for them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time

log = logging.getLogger(__name__)

JACK_NO_START_SERVER = 0x01
_MESSAGE_CB = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_SHUTDOWN_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_lib: ctypes.CDLL | None = None


def _jack_message(text: bytes | None) -> None:
    log.debug("libjack: %s", (text or b"").decode(errors="replace"))


_MESSAGE_HANDLER = _MESSAGE_CB(_jack_message)  # kept alive for the life of the process


def libjack() -> ctypes.CDLL | None:
    """libjack, with its messages routed to the log; None where it is not installed."""
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("jack") or "libjack.so.0"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            return None
        lib.jack_client_open.restype = ctypes.c_void_p
        lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.jack_client_close.argtypes = [ctypes.c_void_p]
        lib.jack_on_shutdown.argtypes = [ctypes.c_void_p, _SHUTDOWN_CB, ctypes.c_void_p]
        lib.jack_get_ports.restype = ctypes.POINTER(ctypes.c_char_p)
        lib.jack_get_ports.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]
        lib.jack_port_by_name.restype = ctypes.c_void_p
        lib.jack_port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.jack_port_get_all_connections.restype = ctypes.POINTER(ctypes.c_char_p)
        lib.jack_port_get_all_connections.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.jack_connect.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.jack_free.argtypes = [ctypes.c_void_p]
        lib.jack_set_error_function(_MESSAGE_HANDLER)
        lib.jack_set_info_function(_MESSAGE_HANDLER)
        _lib = lib
    return _lib


def _names(lib: ctypes.CDLL, found) -> list[str]:
    """A NULL-terminated `const char **` from libjack as strings (freed)."""
    names: list[str] = []
    if found:
        i = 0
        while found[i]:
            names.append(found[i].decode(errors="replace"))
            i += 1
        lib.jack_free(ctypes.cast(found, ctypes.c_void_p))
    return names


class JackQuery:
    """A short-lived port-less libjack client for questions about the graph (never activated: no cycles)."""

    def __init__(self, name: str = "TatumFlow-query") -> None:
        lib = libjack()
        if lib is None:
            raise OSError("libjack not found")
        status = ctypes.c_int(0)
        client = lib.jack_client_open(name.encode(), JACK_NO_START_SERVER, ctypes.byref(status))
        if not client:
            raise OSError("no JACK server running")
        self.lib, self.client = lib, client

    def midi_ports(self) -> list[str]:
        return _names(self.lib, self.lib.jack_get_ports(self.client, None, b"midi", 0))

    def connections(self, port: str) -> list[str] | None:
        """The ports `port` is connected to; None when there is no such port."""
        handle = self.lib.jack_port_by_name(self.client, port.encode())
        return _names(self.lib, self.lib.jack_port_get_all_connections(self.client, handle)) if handle else None

    def connect(self, source: str, dest: str) -> None:
        code = self.lib.jack_connect(self.client, source.encode(), dest.encode())
        if code not in (0, 17):  # 17: EEXIST, already connected
            raise OSError(f"cannot connect JACK port {source!r} to {dest!r} (code {code})")

    def close(self) -> None:
        client, self.client = self.client, None
        if client:
            self.lib.jack_client_close(client)

    def __enter__(self) -> JackQuery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullWatch:
    """For APIs without a server: the server never goes away."""

    lost = threading.Event()

    def server_running(self) -> bool:
        return True

    def rearm(self) -> bool:
        return True

    def close(self) -> None:
        pass


class JackWatch:
    """`lost` is set (from libjack's thread) the moment the JACK server shuts down or drops us."""

    def __init__(self, client_name: str = "TatumFlow-watch") -> None:
        lib = libjack()
        if lib is None:
            raise OSError("libjack not found")
        self.lib: ctypes.CDLL = lib
        self.client_name = client_name.encode()
        self.lost = threading.Event()
        self.lost_at: float | None = None  # time.monotonic() of the shutdown callback
        self._on_shutdown = _SHUTDOWN_CB(self._shutdown)
        self._client: int | None = None
        self._last_probe = 0.0
        if not self.rearm():
            raise OSError("no JACK server running")

    def _shutdown(self, _arg) -> None:
        self.lost_at = time.monotonic()
        self.lost.set()

    def _open(self, name: bytes) -> int | None:
        status = ctypes.c_int(0)
        client = self.lib.jack_client_open(name, JACK_NO_START_SERVER, ctypes.byref(status))
        return client or None

    def rearm(self) -> bool:
        """Open the watching client again (after the server came back); False while there is no server."""
        client = self._open(self.client_name)
        if client is None:
            return False
        self._client = client
        self.lib.jack_on_shutdown(client, self._on_shutdown, None)
        self.lost.clear()
        self.lost_at = None
        return True

    def server_running(self, min_interval_s: float = 1.0) -> bool:
        """Whether a server answers now (a probe client, at most once per `min_interval_s`)."""
        if not self.lost.is_set():
            return True
        if time.monotonic() - self._last_probe < min_interval_s:
            return False
        self._last_probe = time.monotonic()
        probe = self._open(self.client_name + b"-probe")
        if probe is None:
            return False
        self.lib.jack_client_close(probe)
        return True

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and not self.lost.is_set():  # a client of a dead server is left alone, not closed
            self.lib.jack_client_close(client)


def watch_for(api: str | None) -> JackWatch | NullWatch:
    """A `JackWatch` when the session runs on JACK, else a `NullWatch`."""
    from .environment import is_jack

    if not is_jack(api):
        return NullWatch()
    try:
        return JackWatch()
    except OSError as err:
        log.warning("cannot watch the JACK server (%s); its loss would go unnoticed", err)
        return NullWatch()
