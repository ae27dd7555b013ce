"""``maffsrn-beam`` on Beam's DirectRunner (two worker processes) against ``maffsrn-upscale``
on the same folder: the same files with the same pixels, and the files that fail listed one
per line in the errors file beside the output folder."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import SHARED
from PIL import Image

SET5 = os.path.join(SHARED, "data", "benchmark", "Set5")
pytestmark = pytest.mark.slow


def _folder(path):
    """Set5 x2 LR images, a JPEG, a grayscale PNG, a file that is not an image and one over
    the 0.1-megapixel limit the runs use."""
    from maffsrn_tf.data.sources import load_benchmark

    path.mkdir()
    items = load_benchmark(SET5, 2)
    for name, _, lr in items[:3]:
        Image.fromarray(lr).save(path / f"{name}.png")
    Image.fromarray(items[3][2]).save(path / "photo.jpg", quality=90)
    Image.fromarray(items[4][2]).convert("L").save(path / "gray.png")
    (path / "notes.png").write_bytes(b"not an image\n" * 50)
    Image.new("RGB", (400, 300), "white").save(path / "big.png")


def _pixels(path):
    return np.asarray(Image.open(path))


def test_beam_writes_what_maffsrn_upscale_writes_and_lists_the_failures(tmp_path):
    _folder(tmp_path / "in")
    common = ["--scale", "2", "--max_megapixels", "0.1"]
    beam = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.beam", "--input_pattern", str(tmp_path / "in/*"),
         "--output_dir", str(tmp_path / "beam"), *common,
         "--runner", "DirectRunner", "--direct_num_workers", "2",
         "--direct_running_mode", "multi_processing"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    up = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.upscale", "--input", str(tmp_path / "in"),
         "--output", str(tmp_path / "up"), *common],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert up.returncode == 1 and "2 of 7 images failed" in up.stderr, up.stderr[-2000:]
    assert beam.returncode == 1, beam.stderr[-3000:]
    assert "Traceback" not in beam.stderr
    assert beam.stderr.strip().splitlines()[-1] == (
        f"error: 2 of 7 files failed; listed in {tmp_path / 'beam'}-errors.txt"
    )
    assert "upscaled 5 images into" in beam.stdout

    written = sorted(os.listdir(tmp_path / "beam"))
    assert written == sorted(os.listdir(tmp_path / "up"))
    assert len(written) == 5 and "photo_x2.jpg" in written
    for name in written:
        a, b = _pixels(tmp_path / "beam" / name), _pixels(tmp_path / "up" / name)
        assert a.shape == b.shape and np.array_equal(a, b), name
    assert _pixels(tmp_path / "beam" / "gray_x2.png").ndim == 2

    errors = (tmp_path / "beam-errors.txt").read_text().splitlines()
    assert len(errors) == 2, errors
    (notes,) = [line for line in errors if "notes.png" in line]
    (big,) = [line for line in errors if "big.png" in line]
    assert "cannot read" in notes and "over the limit of 100,000" in big
    assert not [n for n in os.listdir(tmp_path / "beam") if n.startswith(".tmp-")]


def test_two_inputs_for_one_output_are_both_errors_and_nothing_is_overwritten(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    Image.fromarray(rgb).save(folder / "a.bmp")  # both -> a_x2.png (--format png)
    Image.fromarray(rgb).save(folder / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(np.repeat(np.repeat(rgb, 2, 0), 2, 1)).save(out / "b_x2.png")  # earlier
    earlier = (out / "b_x2.png").read_bytes()
    command = [sys.executable, "-m", "maffsrn_tf.cli.beam", "--input_pattern",
               str(folder / "*"), "--output_dir", str(out), "--format", "png", "--errors",
               str(tmp_path / "e.txt")]  # fmt: skip
    # an existing output is refused before any work, as maffsrn-upscale refuses it
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stderr.strip() == (
        f"error: output exists: {out / 'b_x2.png'} (pass --overwrite to replace it, or "
        "--skip_existing to leave it)"
    )
    assert not (tmp_path / "e.txt").exists()
    # --skip_existing leaves it; the two inputs for one output are both errors
    run = subprocess.run([*command, "--skip_existing"], capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: 2 of 3 files failed; listed in {tmp_path / 'e.txt'}"
    )
    assert "(skipped 1 whose output exists)" in run.stdout
    assert os.listdir(out) == ["b_x2.png"]
    assert (out / "b_x2.png").read_bytes() == earlier
    errors = sorted((tmp_path / "e.txt").read_text().splitlines())
    assert len(errors) == 2  # one line per input that failed
    assert errors[0].startswith(f"{folder / 'a.bmp'}: would be written to ")
    assert errors[1].startswith(f"{folder / 'a.png'}: would be written to ")
    assert f"as {folder / 'a.bmp'} would" in errors[1]


def _beam(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.beam", *args],
        capture_output=True, text=True, timeout=600, cwd=cwd,
    )  # fmt: skip


def test_every_matched_entry_is_an_output_or_one_line_of_errors(tmp_path):
    """Any name a file system allows works or fails alone: a name that is not UTF-8 and one
    with a newline are upscaled, a dangling and a looping link are one line each of the
    errors file (Beam's match drops them silently), and every line ends with a newline."""
    folder = tmp_path / "in"
    folder.mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    data = (folder / "a.png").read_bytes()
    with open(os.path.join(os.fsencode(folder), b"bad\xff.png"), "wb") as f:
        f.write(data)
    (folder / "new\nline.png").write_bytes(data)
    os.symlink("nowhere.png", folder / "dangling.png")
    os.symlink("loop.png", folder / "loop.png")
    (folder / "back\\slash.png").write_bytes(data)  # Beam's match drops it too
    (folder / "z\u200bw.png").write_bytes(b"x")  # its repr escapes once broke the message
    (folder / "clip.MP4").write_bytes(b"\0\0\0\x18ftypmp42")  # "cannot identify" (fuzz 22)
    run = _beam(["--input_pattern", "in/*", "--output_dir", "out"], tmp_path)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        "error: 5 of 8 files failed; listed in out-errors.txt"
    )
    written = sorted(os.listdir(os.fsencode(tmp_path / "out")))
    assert written == [b"a_x2.png", b"bad\xff_x2.png", b"new\nline_x2.png"]
    text = (tmp_path / "out-errors.txt").read_text("utf-8")
    lines = sorted(text.splitlines())  # the pipeline's lines come in any order
    assert text.endswith("\n") and lines[:4] == [
        "in/back\\slash.png: Beam's file system does not read this name (a backslash in it?): "
        "rename the file, or upscale it with maffsrn-upscale",
        "in/clip.MP4: named as a video (.MP4): a Beam pipeline upscales images only; upscale "
        "videos with upscale_path (maffsrn-upscale)",
        "in/dangling.png: a broken or looping symbolic link, not a file",
        "in/loop.png: a broken or looping symbolic link, not a file",
    ]
    assert len(lines) == 5 and lines[4].startswith("in/z\\u200bw.png: cannot read")


def test_output_folders_are_compared_by_real_path(tmp_path):
    """The folder the pattern reads, however spelled, is refused before anything runs; a
    sibling reached through ``..`` and a pattern without a folder work."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (20, 16), "red").save(folder / "a.png")
    for pattern, out in ((f"{folder}/*", "in"), ("in/*", "./in/../in/sub")):
        run = _beam(["--input_pattern", pattern, "--output_dir", out], tmp_path)
        assert run.returncode == 1 and "reads, or lies inside it" in run.stderr, run.stderr
        assert sorted(os.listdir(folder)) == ["a.png"]
    run = _beam(["--input_pattern", "*.png", "--output_dir", "../out[1]"], folder)
    assert run.returncode == 0, run.stderr[-3000:]
    assert os.listdir(tmp_path / "out[1]") == ["a_x2.png"]  # glob characters are literal


def test_default_errors_file_beside_a_named_folder_and_inside_one_without_a_name():
    from maffsrn_tf.upscaler.beam import errors_path_for

    assert errors_path_for("out") == "out-errors.txt"
    assert errors_path_for("a/out/") == "a/out-errors.txt"
    assert errors_path_for("gs://b/out") == "gs://b/out-errors.txt"
    # "." beside itself would be a hidden ".-errors.txt"; a root has nothing beside it
    assert errors_path_for(".") == "./upscale-errors.txt"
    assert errors_path_for("./") == "./upscale-errors.txt"
    assert errors_path_for("..") == "../upscale-errors.txt"
    assert errors_path_for("/") == "/upscale-errors.txt"
    assert errors_path_for("gs://bucket/") == "gs://bucket/upscale-errors.txt"


def test_wildcards_in_folder_names_reach_beams_match():
    """Beam lists the folder before a pattern's first wildcard: a pattern whose first folder
    holds one gets ./ in front (Beam would list "" and find nothing)."""
    from maffsrn_tf.upscaler.beam import local_pattern

    assert local_pattern("*.png") == "./*.png"
    assert local_pattern("*2/*.png") == "./*2/*.png"
    assert local_pattern("in?/*.png") == "./in?/*.png"
    assert local_pattern("in*/a.png") == "./in*/a.png"
    assert local_pattern("in//*") == "in/*"
    assert local_pattern("a/b*/c.png") == "a/b*/c.png"
    assert local_pattern("gs://b/*/x.png") == "gs://b/*/x.png"


def test_a_run_leaves_no_temporary_folder(tmp_path):
    """Beam's DirectRunner tries a Prism job server first, which makes TMPDIR/beam-tempXXXX
    and leaves it when the server cannot start: the run removes it."""
    (tmp_path / "in").mkdir()
    Image.new("RGB", (20, 16), "red").save(tmp_path / "in" / "a.png")
    private = tmp_path / "tmp"
    private.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.beam", "--input_pattern", "in/*.png",
         "--output_dir", "out"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(private)},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert os.listdir(tmp_path / "out") == ["a_x2.png"]
    assert [n for n in os.listdir(private) if n.startswith("beam-temp")] == []


def test_threads_of_one_worker_never_mix_their_images(tmp_path):
    """--direct_running_mode multi_threading: RunInference shares one model between a
    process's threads; each image still comes out as maffsrn-upscale makes it (a shared
    interpreter used to mix tiles across images, about one run in four)."""
    from maffsrn_tf.upscaler import upscale

    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(7)
    images = {}
    for i in range(8):
        images[i] = rng.integers(0, 256, (40 + 4 * i, 44, 3), dtype=np.uint8)
        Image.fromarray(images[i]).save(tmp_path / "in" / f"i{i}.png")
    run = subprocess.run(
        [sys.executable, "-m", "maffsrn_tf.cli.beam", "--input_pattern", str(tmp_path / "in/*"),
         "--output_dir", str(tmp_path / "out"), "--direct_num_workers", "4",
         "--direct_running_mode", "multi_threading"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    for i, array in images.items():
        assert np.array_equal(_pixels(tmp_path / "out" / f"i{i}_x2.png"), upscale(array)), i
