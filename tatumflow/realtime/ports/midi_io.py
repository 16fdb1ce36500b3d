"""MIDI ports through mido + python-rtmidi: API detection, port names, and the live input with stamping.

The API is picked by itself: CoreMIDI on macOS, ALSA on Linux when the sequencer is there, else JACK when a server
runs, WinMM on Windows. An explicit `api` option wins; so does mido's `MIDO_BACKEND` environment variable (e.g.
`mido.backends.rtmidi/UNIX_JACK`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

import mido
from mido.backends import rtmidi as mido_rtmidi

from . import environment

log = logging.getLogger(__name__)

VIRTUAL = "virtual"
CLIENT_NAME = "TatumFlow"
IN_PORT_NAME = "TatumFlow In"
OUT_PORT_NAME = "TatumFlow Out"
# On JACK one client per port, named after it, its port named as JACK's own tools name theirs: `TatumFlow In:input`
# (jack_midi_dump, jack_input.py, names its port `input`) and `TatumFlow Out:output`. Elsewhere (ALSA, CoreMIDI,
# where other programs show the port's own name) the ports are `TatumFlow In` and `TatumFlow Out` of `TatumFlow`.
JACK_PORT_NAMES = {IN_PORT_NAME: "input", OUT_PORT_NAME: "output"}
OWN_PREFIX = "TatumFlow"  # every client of ours (the session's ports, the dead man's switch, the queries)
API_ALIASES = {
    "alsa": "LINUX_ALSA",
    "jack": "UNIX_JACK",
    "coremidi": "MACOSX_CORE",
    "winmm": "WINDOWS_MM",
    "windows": "WINDOWS_MM",
}
_PREFERENCE = ("MACOSX_CORE", "LINUX_ALSA", "UNIX_JACK", "WINDOWS_MM", "WEB_MIDI")
_detected: dict[str | None, str | None] = {}


CALLBACK_DRAIN_S = 0.02  # after cancelling an input's callback: time for one already under way to finish
# python-rtmidi gives its C callback a borrowed pointer to the (function, data) tuple it keeps, and drops that tuple in
# cancel_callback() while the MIDI thread (JACK's process thread, ALSA's input thread) may already be in the callback
# with the pointer: the freed tuple corrupts the interpreter's tuple free list, and the process crashes later,
# anywhere (seen as a segfault at exit in `tatumflow bench`; how often: benchmarks/realtime_jack/README.md). mido's
# close() also re-registers its own callback and then closes the port holding the GIL, while a JACK cycle waits for
# the GIL inside that callback: with messages streaming in it deadlocks (tests/realtime/test_jack.py). `close_input`
# keeps the tuples alive for the life of the process (a few dozen bytes per port closed), cancels, lets a callback
# under way finish, then closes.
_RTMIDI_TUPLES_KEPT: list[tuple] = []


def keep_forever(port) -> None:
    """A port of a vanished server: never closed, never freed, not even at exit (its rtmidi destructor closes a
    client of the dead server, which crashes in libjack)."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(port))


CALLBACK_WAIT_S = 2.0  # at most this long for a callback under way (counted) to return before the port is freed


class CountedInput(mido_rtmidi.Input):
    """mido's rtmidi input, counting the calls of its callback under way (`close_input` frees the port only when
    none is: a call slowed by a loaded machine outlasts any fixed wait). Only rtmidi's one MIDI thread calls the
    wrapper, so the count has one writer and needs no lock."""

    def _open(self, **kwargs) -> None:
        self.in_flight = 0
        super()._open(**kwargs)

    def _callback_wrapper(self, msg_data, data) -> None:
        self.in_flight += 1
        try:
            super()._callback_wrapper(msg_data, data)
        finally:
            self.in_flight -= 1


def open_input(b: mido.Backend, name: str | None, callback=None, **kwargs) -> mido.ports.BaseInput:
    """An input of backend `b` (as `b.open_input`), counted (`CountedInput`) where it is rtmidi's."""
    if b.module is not mido_rtmidi:
        return b.open_input(name, callback=callback, **kwargs)
    return CountedInput(name, callback=callback, **({"api": b.api} if b.api else {}), **kwargs)


def close_input(port: mido.ports.BaseInput) -> None:
    """Close an input port whose callback may be running right now (see `_RTMIDI_TUPLES_KEPT`): cancel the
    callback, let a call waiting for the interpreter start, wait until no counted call is under way (up to
    `CALLBACK_WAIT_S`; one stuck longer leaves the port open, never freed), then close and free it."""
    rt = getattr(port, "_rt", None)
    if rt is None or port.closed:  # not an rtmidi port, or closed already
        port.close()
        return
    _RTMIDI_TUPLES_KEPT.extend(o for o in gc.get_referents(rt) if isinstance(o, tuple))
    rt.cancel_callback()  # from here on messages queue inside rtmidi: no new call into Python
    time.sleep(CALLBACK_DRAIN_S)  # the GIL is free meanwhile: a callback about to start or under way runs
    deadline = time.monotonic() + CALLBACK_WAIT_S
    while getattr(port, "in_flight", 0) and time.monotonic() < deadline:
        time.sleep(0.001)
    port._callback = None
    port.closed = True
    if getattr(port, "in_flight", 0):
        log.warning("%s: a callback still running after %.0f s; the port is left open", port.name, CALLBACK_WAIT_S)
        keep_forever(port)
        return
    try:
        rt.close_port()
    finally:
        rt.delete()


class NoMidiApi(OSError):
    """No MIDI API works here (no ALSA sequencer, no JACK server, ...)."""


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C libraries' own messages while probing (ALSA/JACK print to fd 2 when absent)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _api_works(rtmidi, api: int) -> bool:
    with _quiet_stderr():
        try:
            probe = rtmidi.MidiOut(rtapi=api)
        except Exception:  # rtmidi raises SystemError/RuntimeError when the API has no server/sequencer
            return False
        probe.delete()
    return True


def detect_api(requested: str | None = None) -> str | None:
    """The rtmidi API name for mido ("LINUX_ALSA", "UNIX_JACK", ...), or None to let `MIDO_BACKEND` decide."""
    import rtmidi

    compiled = {rtmidi.get_api_name(a): a for a in rtmidi.get_compiled_api()}
    names = {n.upper(): n for n in mido.Backend("mido.backends.rtmidi").module.get_api_names()}
    if requested and requested.lower() != "auto":
        api = API_ALIASES.get(requested.lower(), requested.upper())
        if api not in names:
            raise ValueError(f"MIDI API {requested!r} is not available; compiled in: {', '.join(sorted(names))} "
                             "(or auto)")
        return api
    if environment.mido_backend():
        return environment.mido_backend_api()
    if _detected.get(None) is None:  # only a working API is remembered: a JACK server may start later
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # probing must not spawn a JACK server
        found = [a for a in _PREFERENCE if a in names and _api_works(rtmidi, getattr(rtmidi, f"API_{a}"))]
        _detected[None] = found[0] if found else None
    if _detected[None] is None:
        raise NoMidiApi(
            f"no working MIDI API among {sorted(compiled)}: no ALSA sequencer (/dev/snd/seq) and no JACK server. "
            "Start one (e.g. `jackd -d dummy &`), or choose with --api / MIDO_BACKEND"
        )
    return _detected[None]


def backend(api: str | None) -> mido.Backend:
    """A mido backend for `api` (None: `MIDO_BACKEND`, else mido's default)."""
    if api is None:
        return mido.Backend(environment.mido_backend() or environment.RTMIDI_BACKEND, load=True)
    return mido.Backend(f"{environment.RTMIDI_BACKEND}/{api}", load=True)


def open_virtual(b: mido.Backend, name: str, callback=None):
    """Our virtual port `name` (IN_PORT_NAME: an input with `callback`; OUT_PORT_NAME: an output), named as the
    backend's API shows it best (JACK_PORT_NAMES)."""
    client, port = (name, JACK_PORT_NAMES[name]) if b.api == "UNIX_JACK" else (CLIENT_NAME, name)
    if name == IN_PORT_NAME:
        return open_input(b, port, callback, virtual=True, client_name=client)
    return b.open_output(port, virtual=True, client_name=client)


def is_own_port(name: str) -> bool:
    """Whether a listed port is one of TatumFlow's own (never suggested as a keyboard or a synth)."""
    return name.startswith(OWN_PREFIX)


def list_ports(api: str | None) -> tuple[list[str], list[str]]:
    """(input names, output names) for an API."""
    b = backend(api)
    return list(b.get_input_names()), list(b.get_output_names())


def resolve_port(name: str, available: Sequence[str], kind: str) -> str:
    """An exact port name, else the one name that contains `name` (case-insensitive); a ValueError lists the rest.
    TatumFlow's own ports are taken only by their exact name: never matched by a part of it, nor suggested."""
    if name in available:
        return name
    available = [p for p in available if not is_own_port(p)]
    hits = [p for p in available if name.lower() in p.lower()]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(repr(p) for p in available) or "none"
    if hits:
        raise ValueError(f"MIDI {kind} port {name!r} is ambiguous; it matches {hits}. Available: {listing}")
    raise ValueError(f"no MIDI {kind} port {name!r}. Available {kind} ports: {listing} (or 'virtual')")


JACK_INPUT_ENV = environment.JACK_INPUT
JACK_READERS = environment.JACK_READERS


def jack_reader(api: str | None, wanted: str | None = None) -> str:
    """"dump" (jack_input.DumpPort: read outside Python, every message kept or counted) on JACK where jack_midi_dump
    is installed, else "callback" (rtmidi's, inside JACK's cycle); `wanted` (default: `TATUMFLOW_JACK_INPUT`) picks
    one."""
    from . import jack_input

    wanted = environment.jack_input() if wanted is None else wanted
    if wanted is not None and wanted not in JACK_READERS:
        raise ValueError(f"--jack-input must be one of {', '.join(JACK_READERS)}, got {wanted!r}")
    if not environment.is_jack(api) or wanted == "callback":
        return "callback"
    if not jack_input.available():
        if wanted == "dump":
            raise ValueError(f"the JACK input reader 'dump' needs {jack_input.TOOL} (apt-get install jackd2)")
        return "callback"
    return "dump"


class MidiInput:
    """The keyboard: a named port (re-found after an unplug) or the virtual port `TatumFlow In`.

    Each message is stamped in the callback from `clock.now()`, dropped when `is_echo(bytes, t_s)` says it is our own
    output coming back, else handed to `on_message(msg, t_s)`. `on_disconnect(t_s)` is called when a named keyboard
    disappears. On JACK the port is read by `jack_midi_dump` where it is installed (`jack_reader`): messages it had
    to skip are counted through `on_lost(n)`. `on_thread()`, when given, runs first in every callback, in the thread
    that runs it (the session passes `clock.promote_input_thread`, which sets a reader thread's priority once).
    """

    def __init__(
        self,
        name: str,
        on_message: Callable[[mido.Message, float], None],
        clock,
        api: str | None = None,
        is_echo: Callable[[bytes, float], bool] | None = None,
        on_disconnect: Callable[[float], None] | None = None,
        poll_s: float = 1.0,
        on_lost: Callable[[int], None] | None = None,
        reader: str | None = None,
        on_thread: Callable[[], object] | None = None,
    ) -> None:
        self.requested = name
        self.on_thread = on_thread
        self.reader = jack_reader(api, reader)
        self.on_lost = on_lost
        self.on_message, self.on_disconnect, self.is_echo = on_message, on_disconnect, is_echo
        self.on_error: Callable[[BaseException], None] | None = None  # the callback raised (set by the session)
        self.error: BaseException | None = None
        self.clock, self.api, self.poll_s = clock, api, poll_s
        self.backend = backend(api)
        self.port = None
        self.name: str | None = None
        self.disconnects = 0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def virtual(self) -> bool:
        return self.requested == VIRTUAL

    def _open_port(self, name: str | None):
        """The virtual port (`name` None) or the named one, read by rtmidi's callback or by jack_midi_dump."""
        if self.reader == "dump":
            from .jack_input import DumpPort

            return DumpPort(IN_PORT_NAME, self._callback, source=name, on_lost=self.on_lost)
        if name is None:
            return open_virtual(self.backend, IN_PORT_NAME, self._callback)
        return open_input(self.backend, name, self._callback)

    def open(self) -> MidiInput:
        if self.virtual:
            self.port = self._open_port(None)
            self.name = IN_PORT_NAME
        else:
            self.name = resolve_port(self.requested, self.backend.get_input_names(), "input")
            self.port = self._open_port(self.name)
            self._watchdog = threading.Thread(target=self._watch, name="midi-in-watchdog", daemon=True)
            self._watchdog.start()
        log.info("MIDI input: %s (%s, read by %s)", self.name, self.api or environment.mido_backend() or "default",
                 self.reader)
        return self

    def _callback(self, msg: mido.Message) -> None:
        t_s = self.clock.now()  # stamp first: everything after this is processing time
        if self.on_thread is not None:
            self.on_thread()
        try:
            if self.is_echo is not None and self.is_echo(bytes(msg.bytes()), t_s):
                return
            self.on_message(msg, t_s)
        except BaseException as err:  # raised in the MIDI library's thread: it would vanish there; the session stops
            self.error = err
            log.exception("the MIDI input callback failed")
            if self.on_error is not None:
                self.on_error(err)

    def _present(self) -> str | None:
        try:
            return resolve_port(self.requested, self.backend.get_input_names(), "input")
        except Exception:  # not there, or no server to ask
            return None

    def server_lost(self) -> None:
        """The MIDI server went away: forget the port without closing it (a dead server's client can hang on close);
        it stays referenced, so no destructor closes it either."""
        port, self.port = self.port, None
        if port is None:
            return
        if self.reader == "dump":
            port.kill()  # its tool waits for cycles that no longer come
        else:
            keep_forever(port)

    def reopen(self) -> None:
        """The server is back: the virtual port is made again (a named keyboard is re-found by the watch thread)."""
        if self.virtual and self.port is None:
            self.port = self._open_port(None)
            log.warning("MIDI input %s is open again", self.name)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            name = self._present()
            if self.port is not None and name is None:
                log.warning("keyboard %r disconnected; the engine keeps running and waits for it", self.name)
                self.disconnects += 1
                self._close_port()
                if self.on_disconnect:
                    self.on_disconnect(self.clock.now())
            elif self.port is None and name is not None:
                try:
                    self.port = self._open_port(name)
                    self.name = name
                    log.warning("keyboard %r is back", name)
                except OSError as err:
                    log.debug("re-opening %r failed: %s", name, err)

    def _close_port(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close() if self.reader == "dump" else close_input(port)
            except Exception as err:  # a vanished device may fail to close cleanly
                log.debug("closing input %r: %s", self.name, err)

    def close(self) -> None:
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=2)
        self._close_port()

    def __enter__(self) -> MidiInput:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
