"""``maffsrn_tf.train.distribute``: the point a resumed run starts from, and which worker of
a cluster writes to the model folder."""

import json

import pytest


def test_resume_point_reads_the_backup(tmp_path):
    from maffsrn_tf.train.distribute import resume_point

    assert resume_point(str(tmp_path / "backup")) == (0, 0)
    assert resume_point(str(tmp_path / "backup"), previous=True) is None
    (tmp_path / "backup").mkdir()
    meta = tmp_path / "backup" / "training_metadata.json"
    meta.write_text('{"epoch": 3, "batch": 120, "steps_done": 121}')
    assert resume_point(str(tmp_path / "backup")) == (3, 121)
    meta.write_text('{"epoch": 3, "batch": 120}')  # Keras' own: it restarts the epoch
    assert resume_point(str(tmp_path / "backup")) == (3, 0)


@pytest.mark.parametrize(
    "tf_config, suffix",
    [
        (None, ""),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, ""),
        (
            {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}},
            "worker-1",
        ),
        (
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                "task": {"type": "worker", "index": 0},
            },
            "worker-0",
        ),
        (
            {
                "cluster": {"chief": ["c:0"], "worker": ["a:1"]},
                "task": {"type": "chief", "index": 0},
            },
            "",
        ),
    ],
)
def test_only_the_chief_writes_to_the_model_dir(monkeypatch, tf_config, suffix):
    from maffsrn_tf.train.distribute import worker_suffix

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert worker_suffix() == suffix


def test_the_tpu_strategy_without_a_tpu_is_one_error_naming_the_fix():
    """It was TensorFlow's "Please provide a TPU Name to connect to." as an unexpected
    ValueError."""
    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.train.distribute import make_strategy

    with pytest.raises(MaffsrnError, match=r"^strategy='tpu' found no TPU to connect to \(.*\): "
                       r"pass tpu=ADDRESS \(a TPU name or grpc://HOST:PORT\), or another "
                       r"strategy$"):  # fmt: skip
        make_strategy("tpu", "")


def test_a_backup_record_that_is_not_one_is_named(tmp_path):
    """A backup record replaced by another command's output had been "unexpected KeyError:
    'epoch'" on resume: one line naming the file and the way on."""
    from maffsrn_tf.errors import MaffsrnError
    from maffsrn_tf.train.distribute import resume_point

    record = tmp_path / "training_metadata.json"
    for text in ('{"datasets": {}}', '{"epoch": 1', "[1, 2]"):
        record.write_text(text)
        with pytest.raises(MaffsrnError, match=r"training_metadata\.json is not the backup "
                           r"record a run writes \(.*\): the run cannot resume from it; restore "
                           r"it, or pass model_dir=DIR for a new run$"):  # fmt: skip
            resume_point(str(tmp_path))
    record.write_text('{"epoch": 3, "steps_done": 2}')
    assert resume_point(str(tmp_path)) == (3, 2)
