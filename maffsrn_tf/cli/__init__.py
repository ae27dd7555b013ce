"""The console scripts, one module each (``maffsrn-<name>`` is ``maffsrn_tf.cli.<name>``).

Each is a thin absl shell over library functions: it checks its flags and paths, then
imports TensorFlow and calls the library. Runnable as ``python -m maffsrn_tf.cli.<name>``.

May import: every wing.
"""

import os
import signal
import sys


def _stopped_while_starting(signum, frame):
    """Ctrl-C or SIGTERM before the command has read its flags: one line, nothing written
    yet (``cli.common.run`` installs the command's own handlers)."""
    words = "interrupted" if signum == signal.SIGINT else "terminated"
    os.write(2, f"error: {words} while starting; nothing was written\n".encode())
    os._exit(128 + signum)


def _starting_a_command():
    """Whether this import starts a command: a console script (``maffsrn-*``) or
    ``python -m maffsrn_tf.cli.<name>`` (``sys.argv[0]`` is ``-m`` while Python finds the
    module). Imported by anything else (a test, a notebook), the package changes nothing."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program.startswith("maffsrn-") or program == "-m"


if _starting_a_command():  # the imports below (absl, NumPy, Pillow) take a while
    for _signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signal, _stopped_while_starting)
