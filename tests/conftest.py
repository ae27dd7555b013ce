"""Shared fixtures: the ``../shared`` folder (skip with a message when absent)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from maffsrn_tf.utils import shared_dir  # noqa: E402

SHARED = shared_dir()


def shared_path(*parts):
    """Path under the shared folder. When it is missing the test is skipped with the reason,
    or fails when the environment variable ``CI`` is set (CI must run every oracle test)."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        message = f"shared data not found: {path} (set MAFFSRN_SHARED to the shared folder)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    return path
