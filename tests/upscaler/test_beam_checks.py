"""``check_paths``, the checks ``maffsrn-beam`` makes before any work: paths Beam could only
find wrong once the run had begun (a scheme it has no file system for, one whose client is
not installed, an errors file behind a folder that is not there) are refused up front, in
Python terms, and nothing is made."""

import importlib.util
import os

import pytest
from PIL import Image

from maffsrn_tf.errors import MaffsrnError
from maffsrn_tf.upscaler.beam import REMOTE_FILE_SYSTEMS, BeamConfig, check_paths


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("in")
    Image.new("RGB", (8, 8), "red").save("in/a.png")
    return tmp_path


def _refusal(**paths):
    with pytest.raises(MaffsrnError) as info:
        check_paths(BeamConfig(**{"input_pattern": "in/*.png", "output_dir": "o", **paths}))
    return str(info.value)


@pytest.mark.parametrize(
    "name,path",
    [("input_pattern", "x://b/*.png"), ("output_dir", "mem://o"), ("errors_path", "file:///e"),
     ("output_dir", "S3://b/o")],  # Beam's schemes are case-sensitive
)  # fmt: skip
def test_a_scheme_beam_has_no_file_system_for_is_refused(folder, name, path):
    scheme = path.split("://")[0]
    assert _refusal(**{name: path}) == (
        f"{name}={path!r}: Beam has no file system for {scheme}:// paths (it has gs://, "
        "s3://, azfs://, hdfs://; a local path takes no scheme)"
    )
    assert sorted(os.listdir(folder)) == ["in"]


@pytest.mark.parametrize("scheme", sorted(REMOTE_FILE_SYSTEMS))
def test_a_file_system_whose_client_is_missing_names_the_extra(folder, scheme):
    module, extra = REMOTE_FILE_SYSTEMS[scheme]
    try:
        installed = importlib.util.find_spec(module) is not None
    except ImportError:
        installed = False
    if installed:
        pytest.skip(f"{module} is installed here")
    assert _refusal(output_dir=f"{scheme}://bucket/o") == (
        f"output_dir='{scheme}://bucket/o': Beam reaches {scheme}:// paths through {module}, "
        f"which is not installed: pip install '{extra}'"
    )


def test_an_errors_file_behind_a_folder_that_is_not_there_is_refused(folder):
    assert _refusal(errors_path="nodir/../e.txt") == (
        "errors_path='nodir/../e.txt': 'nodir' does not exist, so no path goes through it: "
        "name the file without it ('e.txt'?)"
    )
    assert sorted(os.listdir(folder)) == ["in"]
    # through the output folder, which the run makes, or one that exists: accepted
    for errors in ("o/../e.txt", "in/../e.txt"):
        paths, unreadable, earlier = check_paths(
            BeamConfig(input_pattern="in/*.png", output_dir="o", errors_path=errors)
        )
        assert (paths, unreadable, earlier) == (["in/a.png"], [], None)
    # the default file beside an output folder named through a new folder, as mkdir -p makes
    assert check_paths(BeamConfig(input_pattern="in/*.png", output_dir="n/../o"))[2] is None


def test_a_macs_resource_forks_are_no_inputs(folder, capsys):
    (folder / "in" / "._a.png").write_bytes(b"\x00\x05\x16\x07" + b"\0" * 80)
    paths, unreadable, _ = check_paths(BeamConfig(input_pattern="in/*", output_dir="o"))
    assert [os.path.basename(p) for p in paths] == ["a.png"] and unreadable == []
    assert "skipping 1 macOS metadata file(s) (._NAME, e.g. " in capsys.readouterr().err


def test_an_output_folder_or_errors_file_in_the_package_is_refused(folder):
    """The package's files (its sample photo, which a run without input reads; its weights)
    are never an output (fuzz pass 21: upscale replaced the sample with --overwrite)."""
    from maffsrn_tf.io.paths import PACKAGE_DIR

    inside = os.path.join(PACKAGE_DIR, "samples")
    assert _refusal(output_dir=inside) == (
        f"output_dir={inside!r} lies in the maffsrn_tf package ({PACKAGE_DIR}): its shipped "
        "files are never replaced; write it elsewhere"
    )
    errors = os.path.join(PACKAGE_DIR, "e.txt")
    assert _refusal(errors_path=errors) == (
        f"errors_path={errors!r} lies in the maffsrn_tf package ({PACKAGE_DIR}): its shipped "
        "files are never replaced; write it elsewhere"
    )
    assert sorted(os.listdir(folder)) == ["in"]
