"""How every plugin command's output looks on a terminal or in a pipe: tables, colour, ages.

`status`, `list`, `history` and `versions` print alike: kubectl's padded columns, a few words
coloured, ages as kubectl prints them, one-line messages, and with -o the same rows as JSON or
YAML. Each of those is decided once here; `tree` and `views` compose them, and the commands
ask here whether stdout is a terminal (cut to its width, coloured unless NO_COLOR is set).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import yaml
from pydantic import BaseModel

NONE = "-"
SEPARATOR = "   "
# The least room a cut column keeps, however narrow the terminal.
NARROWEST_CUT = 10


class OutputFormat(StrEnum):
    """The data formats of -o."""

    JSON = "json"
    YAML = "yaml"


class Tone(StrEnum):
    """How a word is coloured on a terminal, as an ANSI SGR code."""

    PLAIN = ""
    GOOD = "32"
    BAD = "31"
    WARN = "33"
    BUSY = "36"


@dataclass(frozen=True)
class Terminal:
    """Where the output goes when it is a terminal: its width, and whether colour is wanted."""

    width: int
    colour: bool


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone = Tone.PLAIN


@dataclass(frozen=True)
class Table:
    """Rows under headers; with `cut_last`, the last column is cut to a terminal's width."""

    headers: tuple[str, ...]
    rows: Sequence[tuple[Cell, ...]]
    cut_last: bool = False

    def render(self, terminal: Terminal | None) -> str:
        """Columns padded as kubectl pads them; coloured and cut only on a terminal."""
        rows = [tuple(Cell(header) for header in self.headers), *self.rows]
        widths = [max(len(row[index].text) for row in rows) for index in range(len(self.headers))]
        room = None
        if self.cut_last and terminal is not None:
            used = sum(widths[:-1]) + len(SEPARATOR) * (len(widths) - 1)
            room = max(terminal.width - used, NARROWEST_CUT)
        lines = []
        for *first, last in rows:
            padded = [
                paint(cell, terminal) + " " * (width - len(cell.text))
                for cell, width in zip(first, widths, strict=False)
            ]
            if room is not None and len(last.text) > room:
                last = Cell(last.text[: room - 1].rstrip() + "…", last.tone)
            lines.append(SEPARATOR.join([*padded, paint(last, terminal)]))
        return "\n".join(lines)


def paint(cell: Cell, terminal: Terminal | None) -> str:
    """The cell's text, in its colour on a terminal that wants colour."""
    if terminal is None or not terminal.colour or cell.tone is Tone.PLAIN:
        return cell.text
    return f"\x1b[{cell.tone}m{cell.text}\x1b[0m"


def human_duration(seconds: float) -> str:
    """A duration as kubectl prints an age: 45s, 3m20s, 12m, 3h5m, 3d4h, 2y70d."""
    whole = max(int(seconds), 0)
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 120:
        return f"{whole}s"
    if minutes < 10:
        return _two(minutes, "m", whole % 60, "s")
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return _two(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return _two(days, "d", hours % 24, "h")
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return _two(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two(big: int, big_unit: str, small: int, small_unit: str) -> str:
    return f"{big}{big_unit}{small}{small_unit}" if small else f"{big}{big_unit}"


def elapsed(start: datetime | None, end: datetime) -> str:
    """The time from `start` to `end` as `human_duration` prints it; - when there is no start."""
    return NONE if start is None else human_duration((end - start).total_seconds())


def one_line(text: str) -> str:
    """The text with every run of whitespace, newlines included, as one space."""
    return " ".join(text.split())


def render_data(items: Sequence[BaseModel], output: OutputFormat) -> str:
    """A list of typed items as JSON or YAML, with the field names of the API (camelCase)."""
    data = [item.model_dump(mode="json", by_alias=True) for item in items]
    if output is OutputFormat.JSON:
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False).rstrip("\n")


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    """-o json|yaml, of a command that prints rows as a table unless asked for data."""
    parser.add_argument(
        "-o",
        "--output",
        choices=[output.value for output in OutputFormat],
        help="print the rows as data instead of a table",
    )


def output_format(args: argparse.Namespace) -> OutputFormat | None:
    """The data format -o asked for; None for a table."""
    return None if args.output is None else OutputFormat(args.output)


def stdout_terminal() -> Terminal | None:
    """stdout's terminal, if it is one; colour unless NO_COLOR asks otherwise (no-color.org)."""
    if not sys.stdout.isatty():
        return None
    return Terminal(shutil.get_terminal_size().columns, colour=not os.environ.get("NO_COLOR"))
