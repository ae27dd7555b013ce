"""Where the benchmark scripts find the shared data (benchmark and training images)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shared_dir():
    """The shared data folder: ``$MAFFSRN_SHARED`` or ``../shared`` beside the repository."""
    return os.environ.get("MAFFSRN_SHARED") or os.path.join(os.path.dirname(REPO), "shared")
