"""Progress bars that also leave a trace in a log: redrawn in place on a
terminal, plain lines where stderr is a file (``nohup frivolous ... > log``)."""

from __future__ import annotations

import io
import sys
from typing import Any, TextIO

from tqdm.auto import tqdm

LOG_EVERY = 60.0
"""Seconds between progress lines where stderr is not a terminal."""


class Lines(io.TextIOBase):
    """A stream that turns a progress bar's redrawn line into one plain line
    per redraw, for a log file."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.last = stream, ""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line and line != self.last:  # closing repaints the last state: once is enough
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last = line
        return len(text)


def progress_bar(iterable: Any = None, *, progress: bool | None, **options: Any) -> tqdm:
    """A tqdm bar: redrawn in place on a terminal; where stderr is not one
    (a background job's log) and ``progress`` is None, a plain line at most
    every :data:`LOG_EVERY` seconds (and at the start and the end), so that
    hours of work still show how far they got; none when ``progress`` is False."""
    if progress is None and not sys.stderr.isatty():
        return tqdm(
            iterable, **options, file=Lines(sys.stderr), mininterval=LOG_EVERY, maxinterval=LOG_EVERY, ascii=True
        )
    return tqdm(iterable, **options, disable=not progress if progress is not None else None)
