"""The terminal UI of `jam --tui`, a Textual app (what it shows: tui.py).

The app runs in the main thread (Textual needs it for the terminal's signals); the session's wait for a stop
(`session.run_until_stopped`) runs beside it on a thread. Every `1 / REFRESH_HZ` s the app reads a snapshot of the
engine and the control surface, never waiting on the real-time threads. Keys go through the same `ControlSurface`
as CCs and OSC. `q`, Esc and Ctrl-C stop the session the normal way (the stop event: note-offs, report, recording);
a stop from elsewhere (`--duration`, a signal, an error) closes the app. While it runs, log lines go to its log pane,
never onto the screen. It fits 80x24: the control list scrolls; the key help, the last change and the border always
show.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import sys
import threading
from collections.abc import Callable

from rich.console import Console
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, RichLog, Static

from .ccmap import CcMap
from .knobs import KNOBS
from .surface import ControlSurface
from .tui import (
    HELP,
    PortWatch,
    RecentNotes,
    TempoHold,
    TuiInfo,
    change_text,
    control_rows,
    header_text,
    notes_text,
    ports_text,
    stats_text,
)

log = logging.getLogger(__name__)
REFRESH_HZ = 8
LOG_LINES = 500
KEPT_WARNINGS = 20
NAMES = list(KNOBS)
CSS = """
#frame { border: round $accent; border-title-color: $text; padding: 0 1; height: 1fr; }
#controls { height: 1fr; min-height: 3; }
#stats, #change, #help { height: auto; }
#help { color: $text-muted; }
#log { height: 3; border: none; padding: 0; background: $surface; scrollbar-size: 0 0; overflow-x: hidden; }
"""


class PaneHandler(logging.Handler):
    """Log records kept as lines for the log pane (a deque: any thread appends, the app drains; nothing waits)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)  # for the pane, drained
        self.warnings: collections.deque[str] = collections.deque(maxlen=KEPT_WARNINGS)  # said again after the UI

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            self.lines.append(line)
            if record.levelno >= logging.WARNING:
                self.warnings.append(line)
        except Exception:  # a record that cannot be formatted must not stop the session
            self.handleError(record)


@contextlib.contextmanager
def logs_to(handler: logging.Handler):
    """While the UI runs: the root logger's terminal handlers set aside, `handler` (and Python's warnings) instead."""
    root = logging.getLogger()
    terminal = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    for h in terminal:
        root.removeHandler(h)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        for h in terminal:
            root.addHandler(h)


class JamApp(App):
    """The live screen. `stop` is the session's stop event (set by the quit keys); `done()` says the session has
    stopped by itself (the app then exits)."""

    CSS = CSS
    TITLE = "tatumflow jam"
    BINDINGS = [
        *(Binding(k, "select(-1)", "previous", show=False, priority=True) for k in ("up", "k")),
        *(Binding(k, "select(1)", "next", show=False, priority=True) for k in ("down", "j")),
        *(Binding(k, "nudge(1)", "up", show=False, priority=True) for k in ("right", "l", "plus", "equals_sign")),
        *(Binding(k, "nudge(-1)", "down", show=False, priority=True) for k in ("left", "h", "minus")),
        Binding("m", "switch('mode')", "mode", show=False),
        Binding("space", "switch('mute')", "mute", show=False, priority=True),
        *(Binding(k, "panic", "panic", show=False, priority=True) for k in ("p", "exclamation_mark")),
        *(Binding(k, "stop", "quit", show=False, priority=True) for k in ("q", "escape", "ctrl+c")),
    ]

    def __init__(self, engine, surface: ControlSurface, ccmap: CcMap | None, recent: RecentNotes | None = None,
                 info: TuiInfo | None = None, stop: threading.Event | None = None,
                 done: Callable[[], bool] | None = None, logs: PaneHandler | None = None,
                 ports: PortWatch | None = None) -> None:
        super().__init__()
        self.engine, self.surface, self.ccmap, self.recent = engine, surface, ccmap, recent
        self.info = info or TuiInfo()
        self.stop_event = stop or threading.Event()
        self.done = done or (lambda: False)
        self.logs = logs or PaneHandler()
        self.ports = ports
        self.tempo = TempoHold()
        self.selected = 0
        self._rows: list[tuple[str, str, str, str]] = []  # the control rows as shown

    def compose(self) -> ComposeResult:
        with Vertical(id="frame") as frame:
            frame.border_title = "tatumflow jam"
            for name in ("header", "ports", "notes"):
                yield Static(id=name)
            table: DataTable = DataTable(id="controls", cursor_type="row", zebra_stripes=False)
            table.can_focus = False  # the app's keys drive it
            yield table
            for name in ("stats", "change"):
                yield Static(id=name)
            yield Static(HELP, id="help")
            yield RichLog(id="log", max_lines=LOG_LINES, wrap=True, markup=False)

    def on_mount(self) -> None:
        table = self.query_one("#controls", DataTable)
        table.add_columns("control", "value", "CC", "range")
        self._rows = control_rows(self.surface, self.ccmap, self.selected)
        for row in self._rows:
            table.add_row(*row)
        self.refresh_view()
        self.set_interval(1 / REFRESH_HZ, self.refresh_view)

    def refresh_view(self) -> None:
        """One frame from a snapshot; exits when the session stopped by itself. The frame timer is the app's and
        can tick once more after the app began closing and took its screen down: that frame is skipped."""
        if not self.is_running:
            return
        if self.done():
            self.exit()
            return
        snap = self.engine.snapshot()
        self.query_one("#header", Static).update(header_text(snap, self.tempo.describe(snap, self.info.sync),
                                                             self.surface.split))
        self.query_one("#ports", Static).update(ports_text(self.info, self.ports))
        self.query_one("#notes", Static).update(notes_text(self.recent))
        table = self.query_one("#controls", DataTable)
        rows = control_rows(self.surface, self.ccmap, self.selected)
        for i, (row, shown) in enumerate(zip(rows, self._rows)):
            for col in (0, 1):
                if row[col] != shown[col]:  # a cell changed: only it is redrawn
                    table.update_cell_at(Coordinate(i, col), row[col])
        self._rows = rows
        if table.cursor_row != self.selected:
            table.move_cursor(row=self.selected)
        self.query_one("#stats", Static).update(stats_text(snap))
        self.query_one("#change", Static).update(change_text(self.surface))
        pane = self.query_one("#log", RichLog)
        while self.logs.lines:
            pane.write(self.logs.lines.popleft())

    def _try(self, action: Callable[[], object]) -> None:
        try:
            action()
        except ValueError as err:
            log.warning("%s", err)
        self.refresh_view()

    def action_select(self, step: int) -> None:
        self.selected = (self.selected + step) % len(NAMES)
        self.refresh_view()

    def action_nudge(self, step: int) -> None:
        self._try(lambda: self.surface.nudge(NAMES[self.selected], step))

    def action_switch(self, name: str) -> None:
        self._try(lambda: self.surface.nudge(name, 1))

    def action_panic(self) -> None:
        self._try(lambda: self.surface.panic("key"))

    def action_stop(self) -> None:
        """The session's normal stop: the stop event; the session's loop returns and stops the engine."""
        self.stop_event.set()
        self.exit()


def screen_text(app: App) -> str:
    """The screen as plain text (headless tests)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None,
                      legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


class _TerminalWriter:
    """The terminal as Textual writes to it, less the errors of a terminal that went away: a hung-up tty (its
    window closed, an SSH drop) raises EIO, which killed Textual's writer thread, and closing the app then waited
    for it forever, so the session never stopped (no note-offs, no final report)."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except (OSError, ValueError):  # the terminal is gone: nothing to show it on
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()

    def fileno(self) -> int:
        return int(self._stream.fileno())

    def isatty(self) -> bool:
        return bool(self._stream.isatty())

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def run_with_tui(wait: Callable[[], None], stop: threading.Event, app_args: dict) -> None:
    """Run the UI in this (main) thread while `wait()` runs on another; either ending ends both. An error in
    `wait` is raised here once the UI is closed."""
    finished = threading.Event()
    failed: list[BaseException] = []

    def waiting() -> None:
        try:
            wait()
        except BaseException as err:  # raised again in the main thread below
            failed.append(err)
        finally:
            finished.set()

    handler = PaneHandler()
    info: TuiInfo = app_args.get("info") or TuiInfo()
    ports = PortWatch(info.api, "TatumFlow Out" in info.outs).start()
    waiter = threading.Thread(target=waiting, name="tatumflow-session-wait", daemon=True)
    terminal = sys.__stderr__  # where Textual's Linux driver writes
    try:
        sys.__stderr__ = _TerminalWriter(terminal)  # type: ignore[misc, assignment]
        with logs_to(handler):
            waiter.start()
            app = JamApp(**app_args, stop=stop, done=finished.is_set, logs=handler, ports=ports)
            app.run()
    finally:
        sys.__stderr__ = terminal  # type: ignore[misc]
        stop.set()  # the UI closed (a quit key, or it failed): the session stops the normal way
        waiter.join()
        ports.close()
        with contextlib.suppress(OSError):  # a terminal that went away takes nothing more
            for line in handler.warnings:  # the screen is gone: its warnings are said again where they stay
                print(line, file=sys.stderr)
    if failed:
        raise failed[0]
