"""Shared fixtures: the ``../shared`` folder (skip with a message when absent)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from maffsrn_tf.utils import shared_dir  # noqa: E402

SHARED = shared_dir()


def shared_path(*parts):
    """Path under the shared folder; skips the test (with the reason) when it is missing."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"shared data not found: {path} (set MAFFSRN_SHARED to the shared folder)")
    return path
