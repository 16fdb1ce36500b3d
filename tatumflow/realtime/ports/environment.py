"""The environment switches of a live session, read here and nowhere else: each is the default of an option.

- `MIDO_BACKEND`: the MIDI API (e.g. `mido.backends.rtmidi/UNIX_JACK`); `--api` wins.
- `TATUMFLOW_JACK_INPUT`: how a JACK input is read, `dump` (jack_midi_dump, the default where installed) or
  `callback`; `--jack-input` wins.
- `TATUMFLOW_DEADMAN`: `on` (default) or `off`, the dead man's switch for port outputs; `--deadman/--no-deadman`.
- `TATUMFLOW_SOUNDFONT`: the General MIDI soundfont of the built-in synth; `--soundfont` wins.

A jam session reads them once, into its configuration (session.configure), before anything opens; a bad value is
a one-line error there.
"""

from __future__ import annotations

import os

MIDO_BACKEND = "MIDO_BACKEND"
JACK_INPUT = "TATUMFLOW_JACK_INPUT"
DEADMAN = "TATUMFLOW_DEADMAN"
SOUNDFONT = "TATUMFLOW_SOUNDFONT"
JACK_READERS = ("dump", "callback")
RTMIDI_BACKEND = "mido.backends.rtmidi"


def mido_backend() -> str | None:
    """`MIDO_BACKEND` as set (None: not set)."""
    return os.environ.get(MIDO_BACKEND) or None


def mido_backend_api() -> str | None:
    """The rtmidi API `MIDO_BACKEND` names (`mido.backends.rtmidi/UNIX_JACK` -> "UNIX_JACK"); None when it names
    none (not set, or rtmidi's default API)."""
    value = mido_backend()
    if value is None or "/" not in value:
        return None
    return value.split("/", 1)[1] or None


def jack_input() -> str | None:
    """`TATUMFLOW_JACK_INPUT` (None: not set: the best reader available)."""
    value = os.environ.get(JACK_INPUT, "").strip().lower()
    if value and value not in JACK_READERS:
        raise ValueError(f"{JACK_INPUT}={value!r}: expected one of {', '.join(JACK_READERS)}")
    return value or None


def deadman() -> bool:
    value = os.environ.get(DEADMAN, "on").strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"{DEADMAN}={value!r}: expected on or off")
    return value == "on"


def soundfont() -> str | None:
    return os.environ.get(SOUNDFONT) or None


def is_jack(api: str | None) -> bool:
    """Whether ports of `api` (an rtmidi API name; None: as `MIDO_BACKEND` says) live on a JACK server: the one place
    that decides."""
    return api == "UNIX_JACK" or (api is None and "JACK" in (mido_backend() or ""))
