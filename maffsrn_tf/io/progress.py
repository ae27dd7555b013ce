"""Progress bars on a terminal: one tqdm bar where one can be drawn, else ``None``, and the
caller prints plain lines (a log gets no carriage returns).

tqdm comes with the light install (an ai-edge-litert dependency); without it there is no bar.
"""

import io
import os
import sys


def is_terminal(stream=None):
    """Whether ``stream`` (default: stderr) is a terminal a bar can be drawn on. One that
    reports no size (a 0x0 pseudo-terminal, where tqdm draws nothing) counts as a log; a
    terminal-like stream without a descriptor counts as a terminal."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # no descriptor
        return True


def progress_bar(total, desc=None, unit="it", stream=None, position=0, leave=True):
    """A tqdm bar of ``total`` steps on ``stream`` (default: stderr) with its rate and time
    left, or ``None`` where ``stream`` is not a terminal or tqdm is missing."""
    stream = sys.stderr if stream is None else stream
    if not is_terminal(stream):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        file=stream,
        position=position,
        dynamic_ncols=True,
    )
