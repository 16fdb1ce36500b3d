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
from collections.abc import Callable, Iterator, Sequence

import mido

log = logging.getLogger(__name__)

VIRTUAL = "virtual"
CLIENT_NAME = "TatumFlow"
IN_PORT_NAME = "TatumFlow In"
OUT_PORT_NAME = "TatumFlow Out"
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


def close_input(port: mido.ports.BaseInput) -> None:
    """Close an input port whose callback may be running right now (see `_RTMIDI_TUPLES_KEPT`)."""
    rt = getattr(port, "_rt", None)
    if rt is None or port.closed:  # not an rtmidi port, or closed already
        port.close()
        return
    _RTMIDI_TUPLES_KEPT.extend(o for o in gc.get_referents(rt) if isinstance(o, tuple))
    rt.cancel_callback()  # from here on messages queue inside rtmidi: no new call into Python
    time.sleep(CALLBACK_DRAIN_S)  # the GIL is free meanwhile: a callback under way finishes
    port._callback = None
    try:
        rt.close_port()
    finally:
        rt.delete()
        port.closed = True


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
    if os.environ.get("MIDO_BACKEND"):
        return None
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
        return mido.Backend(os.environ.get("MIDO_BACKEND", "mido.backends.rtmidi"), load=True)
    return mido.Backend(f"mido.backends.rtmidi/{api}", load=True)


def list_ports(api: str | None) -> tuple[list[str], list[str]]:
    """(input names, output names) for an API."""
    b = backend(api)
    return list(b.get_input_names()), list(b.get_output_names())


def resolve_port(name: str, available: Sequence[str], kind: str) -> str:
    """An exact port name, else the one name that contains `name` (case-insensitive); a ValueError lists the rest."""
    if name in available:
        return name
    hits = [p for p in available if name.lower() in p.lower()]
    if len(hits) == 1:
        return hits[0]
    listing = ", ".join(repr(p) for p in available) or "none"
    if hits:
        raise ValueError(f"MIDI {kind} port {name!r} is ambiguous; it matches {hits}. Available: {listing}")
    raise ValueError(f"no MIDI {kind} port {name!r}. Available {kind} ports: {listing} (or 'virtual')")


POLL_S = 0.0005  # the input thread's sleep when rtmidi's queue is empty (the stamps come from rtmidi's deltas)
QUEUE_LIMIT = 1 << 16  # rtmidi's queue: 1.6 s of a 40,000 messages/s flood while Python is held up


def _rtmidi_api(api: str | None) -> int:
    import rtmidi

    if api is None:  # MIDO_BACKEND's API, e.g. "mido.backends.rtmidi/UNIX_JACK", else rtmidi's own choice
        api = os.environ.get("MIDO_BACKEND", "").partition("/")[2] or "UNSPECIFIED"
    return int(getattr(rtmidi, f"API_{api}"))


QUEUE_FULL = b"message queue limit reached"  # what rtmidi prints (to stderr) for each message its full queue drops


@contextlib.contextmanager
def counting_input_losses(on_lost: Callable[[int], None]) -> Iterator[None]:
    """rtmidi says that its input queue dropped a message only on stderr, one line per message: for the block,
    stderr passes through a pipe whose reader counts those lines (`on_lost(1)` each) and passes the rest on."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to tap
        yield
        return
    read_fd, write_fd = os.pipe()

    def pump() -> None:
        blanks, after_full = 0, False  # rtmidi wraps its line in blank lines: those go with it
        with os.fdopen(read_fd, "rb") as pipe:
            for line in pipe:
                if QUEUE_FULL in line:
                    on_lost(1)
                    blanks, after_full = 0, True
                elif not line.strip():
                    blanks += not after_full
                else:
                    os.write(saved, b"\n" * blanks + line)
                    blanks, after_full = 0, False

    reader = threading.Thread(target=pump, name="stderr-tap", daemon=True)
    reader.start()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    try:
        yield
    finally:
        os.dup2(saved, 2)  # the pipe's last writer closes: the reader ends
        reader.join(timeout=2)
        os.close(saved)


class PolledInput:
    """An rtmidi input read by a thread of ours, never through a callback.

    rtmidi's callback runs Python inside the MIDI thread (JACK's process cycle): whenever the GIL is busy longer
    than a cycle, JACK reuses the port buffer under it and messages come twice or not at all (20,000 note pairs at
    ~80,000 messages/s with a busy interpreter: 6,677 arrived whole through the callback, all 20,000 through the
    queue; benchmarks/realtime_jack/flood/). So the MIDI thread only queues (C++, no GIL) and this thread drains the
    queue. Each message is stamped from rtmidi's arrival deltas, kept between the last empty poll and now.
    `handler(data, t_s)` gets the raw bytes and the stamp (`clock.now()` time; no clock: `time.monotonic()`).
    """

    def __init__(self, handler: Callable[[list[int], float], None], clock=None, api: str | None = None,
                 port: str | None = None, virtual: str | None = None, client_name: str | None = None) -> None:
        import rtmidi

        self.handler = handler
        self._now: Callable[[], float] = time.monotonic if clock is None else clock.now
        self._rt = rtmidi.MidiIn(_rtmidi_api(api), name=client_name or "RtMidiIn Client", queue_size_limit=QUEUE_LIMIT)
        try:
            if virtual is not None:
                self._rt.open_virtual_port(virtual)
            else:
                names = self._rt.get_ports()
                if port not in names:
                    raise OSError(f"MIDI input port {port!r} is not there (any more)")
                self._rt.open_port(names.index(port))
            self._rt.ignore_types(sysex=False, timing=False, active_sense=True)  # clock and transport come in
        except BaseException:
            self._rt.delete()
            raise
        self.closed = False
        self.read = 0  # messages taken from rtmidi's queue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="midi-in", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        empty_at, last = self._now(), None
        while not self._stop.is_set():
            got = self._rt.get_message()
            if got is None:
                empty_at = self._now()
                time.sleep(POLL_S)
                continue
            data, delta = got
            self.read += 1
            now = self._now()
            last = now if last is None else min(max(last + delta, empty_at), now)
            self.handler(data, last)

    def stop(self) -> None:
        """Stop reading (the port stays open: `close` closes it)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def abandon(self) -> None:
        """Its server went away: stop reading, never close or free the port (that crashes in libjack)."""
        self.stop()
        keep_forever(self._rt)
        self.closed = True

    def close(self) -> None:
        if self.closed:
            return
        self.stop()
        self.closed = True
        log.debug("MIDI input: %d messages read", self.read)
        self._rt.close_port()
        self._rt.delete()


class MidiInput:
    """The keyboard: a named port (re-found after an unplug) or the virtual port `TatumFlow In`.

    Read by a `PolledInput`, each message is stamped on `clock.now()`'s time line, dropped when `is_echo(bytes,
    t_s)` says it is our own output coming back, else handed to `on_message(msg, t_s)`. `on_disconnect(t_s)` is
    called when a named keyboard disappears.
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
    ) -> None:
        self.requested = name
        self.on_message, self.on_disconnect, self.is_echo = on_message, on_disconnect, is_echo
        self.on_error: Callable[[BaseException], None] | None = None  # the callback raised (set by the session)
        self.error: BaseException | None = None
        self.clock, self.api, self.poll_s = clock, api, poll_s
        self.backend = backend(api)
        self.port: PolledInput | None = None
        self.name: str | None = None
        self.disconnects = 0
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def virtual(self) -> bool:
        return self.requested == VIRTUAL

    def _open_polled(self, name: str | None = None) -> PolledInput:
        if name is None:
            return PolledInput(self._callback, self.clock, self.api, virtual=IN_PORT_NAME, client_name=CLIENT_NAME)
        return PolledInput(self._callback, self.clock, self.api, port=name)

    def open(self) -> MidiInput:
        if self.virtual:
            self.port = self._open_polled()
            self.name = IN_PORT_NAME
        else:
            self.name = resolve_port(self.requested, self.backend.get_input_names(), "input")
            self.port = self._open_polled(self.name)
            self._watchdog = threading.Thread(target=self._watch, name="midi-in-watchdog", daemon=True)
            self._watchdog.start()
        log.info("MIDI input: %s (%s)", self.name, self.api or os.environ.get("MIDO_BACKEND", "default"))
        return self

    def _callback(self, data: list[int], t_s: float) -> None:
        try:
            if self.is_echo is not None and self.is_echo(bytes(data), t_s):
                return
            try:
                msg = mido.Message.from_bytes(data)
            except ValueError:  # not a whole MIDI message: ignored, as mido does
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
        if port is not None:
            port.abandon()

    def reopen(self) -> None:
        """The server is back: the virtual port is made again (a named keyboard is re-found by the watch thread)."""
        if self.virtual and self.port is None:
            self.port = self._open_polled()
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
                    self.port = self._open_polled(name)
                    self.name = name
                    log.warning("keyboard %r is back", name)
                except OSError as err:
                    log.debug("re-opening %r failed: %s", name, err)

    def _close_port(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close()
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
