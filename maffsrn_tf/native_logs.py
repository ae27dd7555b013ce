"""The native start-up lines of TensorFlow and LiteRT, kept out of a library user's stderr.

TensorFlow prints absl, oneDNN and CUDA lines when it is imported and when its runtime
starts (``TF_CPP_MIN_LOG_LEVEL`` does not silence them all), and LiteRT an XNNPACK INFO line
when a model is loaded. They come from C++ straight to file descriptor 2, so ``filtered()``
points descriptor 2 at a temporary file for the moment they are printed, then writes back
every line that is not one of them: nothing else is lost, only held until the block ends.
``MAFFSRN_TF_LOGS=1`` shows them (as the commands' ``--tf_logs`` does).
"""

import contextlib
import os
import re
import sys
import tempfile

TF_LOGS_ENV = "MAFFSRN_TF_LOGS"

# the lines measured with TensorFlow 2.21 and ai-edge-litert 2.x on a machine without a GPU
NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} [\d:. ]+\d+ (?:port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor"
    rb"|cuda_dnn|cuda_fft|cuda_blas|gpu_device|cuda_diagnostics|computation_placer)\.cc:\d+\] "
    rb"|To enable the following instructions: .* in other operations, rebuild TensorFlow"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."
)


def _shown():
    return os.environ.get(TF_LOGS_ENV, "") not in ("", "0")


@contextlib.contextmanager
def filtered():
    """Run the block with descriptor 2 held in a temporary file; afterwards the lines that
    are not TensorFlow's or LiteRT's start-up noise (``NOISE``) go to descriptor 2, in
    order. Nothing is changed where stderr is closed or ``MAFFSRN_TF_LOGS`` is set."""
    if _shown():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no descriptor 2: nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(True) if not NOISE.match(line)]
            if kept:
                os.write(2, b"".join(kept))


def start_tensorflow():
    """Start TensorFlow's runtime (where it prints its CUDA lines) once it is imported.
    Once started, asking again is a lookup: no state of its own is kept."""
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            tf.config.list_logical_devices("CPU")
        except Exception:  # a broken install says so at its first real use, not here
            pass
