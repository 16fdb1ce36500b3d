"""The plain-text chord chart (README: "Play a tune"): header lines, sections, bars between `|`.

```
# Tea for Two (Vincent Youmans, 1924)
title: Tea for Two
meter: 4/4          # 4/4, 3/4, 2/4 or 2/2 (in 2/2 the tempo counts half notes)
tempo: 160          # beats per minute (default 120)
form: A A B A       # optional: the sections in the order played (default: as written)

[A]
| Abmaj7 | % | Bbm7 Eb7 | Abmaj7 |
```

A `#` at the start of a line or after a space starts a comment (a `#` inside a symbol, F#m7, is a sharp). Several
chords in a bar split it evenly; `%` repeats the previous bar. Every error is one line naming the file, the line and,
for a bar, the bar (counted as written) and the symbol.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..paths import check_input_file
from ..timing.form import METERS, Bar, Chord, Form
from .chords import chord_from_symbol

MAX_CHART_BYTES = 64 * 1024
MAX_FORM_BARS = 512  # one chorus, after `form:` is expanded (a 32-bar standard is 32)
MAX_SECTIONS = 32
MAX_FORM_ENTRIES = 64
DEFAULT_BPM = 120.0
HEADERS = ("title", "meter", "tempo", "form", "composer")
_HEADER = re.compile(r"^([A-Za-z]+)\s*:\s*(.*)$")
_SECTION = re.compile(r"^\[([A-Za-z0-9' _-]{1,16})\]\s*(.*)$")
_COMMENT = re.compile(r"(^|\s)#.*$")


@dataclass(frozen=True)
class Chart:
    form: Form
    bpm: float
    title: str = ""
    composer: str = ""


class _Reader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.header: dict[str, str] = {}
        self.sections: dict[str, list[list[Chord]]] = {}
        self.order: list[str] = []
        self.section = ""
        self.bars_written = 0
        self.previous: list[Chord] | None = None

    def fail(self, line_no: int, message: str) -> ValueError:
        return ValueError(f"chart {self.name} line {line_no}: {message}")

    def line(self, line_no: int, raw: str) -> None:
        text = _COMMENT.sub("", raw).strip()
        if not text:
            return
        if (m := _HEADER.match(text)) and "|" not in text:
            key = m.group(1).lower()
            if key not in HEADERS:
                raise self.fail(line_no, f"unknown header {m.group(1)!r}; known: {', '.join(HEADERS)}")
            self.header[key] = m.group(2).strip()
            return
        if m := _SECTION.match(text):
            self.section = m.group(1).strip()
            if self.section in self.sections:
                raise self.fail(line_no, f"section [{self.section}] is written twice")
            if len(self.sections) >= MAX_SECTIONS:
                raise self.fail(line_no, f"more than {MAX_SECTIONS} sections")
            self.sections[self.section] = []
            self.order.append(self.section)
            text = m.group(2).strip()
            if not text:
                return
        if "|" not in text:
            raise self.fail(line_no, f"not a header, a [section] or bars between '|': {text[:40]!r}")
        for cell in text.split("|"):
            if cell.strip():
                self.bar(line_no, cell.split())

    def bar(self, line_no: int, tokens: list[str]) -> None:
        self.bars_written += 1
        where = f"bar {self.bars_written}"
        if tokens == ["%"]:
            if self.previous is None:
                raise self.fail(line_no, f"{where}: '%' repeats the previous bar, and there is none")
            chords = self.previous
        else:
            chords = []
            for token in tokens:
                try:
                    chords.append(chord_from_symbol(token))
                except ValueError:
                    raise self.fail(line_no, f"{where}: unknown chord symbol {token[:30]!r}") from None
        if self.section not in self.sections:
            self.sections[self.section] = []
            self.order.append(self.section)
        self.sections[self.section].append(chords)
        self.previous = chords
        if self.bars_written > MAX_FORM_BARS:
            raise self.fail(line_no, f"more than {MAX_FORM_BARS} bars")


def _meter(reader: _Reader) -> tuple[int, int]:
    text = reader.header.get("meter", "4/4").replace(" ", "")
    for beats, unit in METERS:
        if text == f"{beats}/{unit}":
            return beats, unit
    known = ", ".join(f"{a}/{b}" for a, b in METERS)
    raise ValueError(f"chart {reader.name}: meter {text[:20]!r} is not one of {known}")


def _bpm(reader: _Reader) -> float:
    text = reader.header.get("tempo", "")
    if not text:
        return DEFAULT_BPM
    try:
        bpm = float(text.split()[0])
    except ValueError:
        raise ValueError(f"chart {reader.name}: tempo {text[:20]!r} is not a number of beats per minute") from None
    if not 20 <= bpm <= 400:
        raise ValueError(f"chart {reader.name}: tempo {bpm:g} is outside 20..400 bpm")
    return bpm


def _form_order(reader: _Reader) -> list[str]:
    text = reader.header.get("form", "")
    if not text:
        return reader.order
    names = text.replace(",", " ").split()
    if len(names) > MAX_FORM_ENTRIES:
        raise ValueError(f"chart {reader.name}: form has more than {MAX_FORM_ENTRIES} sections")
    for n in names:
        if n not in reader.sections:
            known = ", ".join(f"[{s}]" for s in reader.order if s) or "none"
            raise ValueError(f"chart {reader.name}: form names section {n[:16]!r}, which is not written (sections: "
                             f"{known})")
    return names


def _bars(reader: _Reader, beats: int, order: list[str]) -> tuple[Bar, ...]:
    bars: list[Bar] = []
    written = 0
    for section in reader.order:
        for chords in reader.sections[section]:
            written += 1
            if len(chords) > beats:
                raise ValueError(f"chart {reader.name}: bar {written} has {len(chords)} chords, more than its "
                                 f"{beats} beats")
    for section in order:
        for chords in reader.sections[section]:
            step = beats / len(chords)
            bars.append(Bar(section, tuple((i * step, c) for i, c in enumerate(chords))))
    if len(bars) > MAX_FORM_BARS:
        raise ValueError(f"chart {reader.name}: the form is {len(bars)} bars long, more than {MAX_FORM_BARS}")
    return tuple(bars)


def parse_chart(text: str, name: str = "<chart>") -> Chart:
    """A chart from its text. Raises ValueError (one line, naming `name`)."""
    if len(text.encode("utf-8", "replace")) > MAX_CHART_BYTES:
        raise ValueError(f"chart {name}: larger than {MAX_CHART_BYTES // 1024} KiB; a chart is a page of text")
    reader = _Reader(name)
    for line_no, raw in enumerate(text.splitlines(), 1):
        reader.line(line_no, raw)
    if reader.bars_written == 0:
        raise ValueError(f"chart {name}: no bars (write them between '|', e.g. | C | Am7 | Dm7 G7 |)")
    beats, unit = _meter(reader)
    order = _form_order(reader)
    bars = _bars(reader, beats, order)
    title = reader.header.get("title", "")[:80]
    return Chart(Form(bars, beats, unit, title), _bpm(reader), title, reader.header.get("composer", "")[:80])


def read_chart(path: str | Path) -> Chart:
    """A chart file (UTF-8 text, at most MAX_CHART_BYTES). Raises ValueError or FileNotFoundError."""
    p = check_input_file(path, "chart")
    if p.stat().st_size > MAX_CHART_BYTES:
        raise ValueError(f"chart {p}: larger than {MAX_CHART_BYTES // 1024} KiB; a chart is a page of text")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"chart {p}: not UTF-8 text") from None
    return parse_chart(text, p.name)
