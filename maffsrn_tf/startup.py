"""What a command needs from its first moment: Ctrl-C or SIGTERM while it still imports its
modules (before its flags are read) ends with one line and 130/143, not a traceback or a
silent death. Installed only when this process is one of the commands."""

import os
import signal
import sys


def _stopped_while_starting(signum, frame):
    """Ctrl-C or SIGTERM before a command has read its flags: one line, nothing written yet
    (``cli.common.run`` installs the command's own handlers)."""
    words = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}.get(signum, "hung up")
    os.write(2, f"error: {words} while starting; nothing was written\n".encode())
    os._exit(128 + signum)


def _starting_a_command():
    """Whether this process is one of the commands: a console script (``maffsrn-*``) or
    ``python -m maffsrn_tf.cli.<name>``. Imported by anything else, nothing is changed."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    given = getattr(sys, "orig_argv", [])
    module = given[given.index("-m") + 1] if "-m" in given[:-1] else ""
    return program.startswith("maffsrn-") or module.startswith("maffsrn_tf.cli.")


if _starting_a_command():  # from the first import on: the imports take a while
    for _signal in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if _signal is not None:  # SIGHUP: a terminal or ssh session closed (not on Windows)
            signal.signal(_signal, _stopped_while_starting)
