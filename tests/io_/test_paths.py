"""``io.paths.within``: an output refused when it is an input or lies inside one, however
either path is spelled, and a sibling folder (``in2`` beside ``in``) accepted."""

import os

from maffsrn_tf.io.paths import within


def test_within_compares_real_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in2").mkdir()
    os.symlink("in", tmp_path / "link")
    assert within("in", str(tmp_path / "in") + "/")
    assert within("in/sub/x.png", "in")
    assert within("link/sub", "in") and within("in/sub", "link")
    assert within("in2/../in/sub", "./in")
    assert not within("in2", "in") and not within("in", "in/sub")
    assert not within("in2/x.png", "in")
