"""``maffsrn-upscale`` end to end, the way shells and people give it work: words and several
``--input`` files, short flags, recursive folders mirrored, reruns that skip what is done,
output folders made as needed, any output size, progress for people and for logs, and a
library that prints nothing."""

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
from PIL import Image

from maffsrn_tf.upscaler import upscale
from maffsrn_tf.upscaler.engines import default_num_threads
from tests.conftest import ROOT, photo

UP = [sys.executable, "-m", "maffsrn_tf.cli.upscale"]


def _save(path, h=30, w=40, seed=0):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(photo(h, w, seed)).save(path)


def _run(args, cwd, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([*UP, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, **kwargs)  # fmt: skip


def test_words_several_inputs_short_flags_and_new_folders(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        _save(tmp_path / name, seed=len(name))
    run = _run(["a.png", "-i", "b.png", "c.png", "-o", "new/deeper", "-s", "3", "-f", "jpg",
                "-q", "90"], tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.split()) == [f"new/deeper/{n}_x3.jpg" for n in "abc"]
    for n in "abc":
        with Image.open(tmp_path / "new" / "deeper" / f"{n}_x3.jpg") as im:
            assert im.size == (120, 90) and im.format == "JPEG"
    single = _run(["a.png", "-o", "one/more/x.png"], tmp_path)  # a file's folder made too
    assert single.returncode == 0 and os.path.isfile(tmp_path / "one" / "more" / "x.png")


def test_recursive_mirrors_subfolders_and_names_other_files_once(tmp_path):
    _save(tmp_path / "in" / "a.png")
    _save(tmp_path / "in" / "trip" / "day1" / "b.jpg", seed=1)
    (tmp_path / "in" / "notes.txt").write_text("x")
    (tmp_path / "in" / "trip" / "list.pdf").write_text("x")
    flat = _run(["in", "-o", "flat"], tmp_path)
    assert flat.returncode == 0, flat.stderr
    assert sorted(os.listdir(tmp_path / "flat")) == ["a_x2.png"]  # not recursive: top only
    run = _run(["in", "-o", "out", "--recursive"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.split()) == ["out/a_x2.png", "out/trip/day1/b_x2.jpg"]
    notes = [line for line in run.stderr.splitlines() if "image extension" in line]
    skipped = (
        "warning: skipping 2 file(s) without an image extension, nor videos: in/notes.txt, "
        "in/trip/list.pdf"
    )
    assert notes == [skipped]


def test_skip_existing_continues_where_a_run_stopped(tmp_path):
    for i in range(3):
        _save(tmp_path / "in" / f"{i}.png", seed=i)
    first = _run(["in", "-o", "out"], tmp_path)
    assert first.returncode == 0
    done = (tmp_path / "out" / "0_x2.png").stat().st_mtime_ns
    again = _run(["in", "-o", "out"], tmp_path)  # without the flag: refused before any work
    assert again.returncode == 1 and again.stderr == (
        "error: output exists: out/0_x2.png and 2 other output(s) (pass --overwrite to replace "
        "them, or --skip_existing to leave them)\n"
    )
    assert (tmp_path / "out" / "0_x2.png").stat().st_mtime_ns == done
    os.remove(tmp_path / "out" / "2_x2.png")  # as if the run had stopped before the last
    rerun = _run(["in", "-o", "out", "--skip_existing"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split() == ["out/2_x2.png"]
    assert "skipping 2 input(s) whose output exists" in rerun.stderr
    assert (tmp_path / "out" / "0_x2.png").stat().st_mtime_ns == done  # left alone


def test_any_output_size_from_the_command_line(tmp_path):
    _save(tmp_path / "a.png", 41, 53)
    run = _run(["a.png", "--outscale", "3.5", "-o", "o/"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["o/a_x3.5.png"]
    out = np.asarray(Image.open(tmp_path / "o" / "a_x3.5.png"))
    np.testing.assert_array_equal(out, upscale(photo(41, 53), outscale=3.5))
    box = _run(["a.png", "--width", "100", "--height", "60", "-o", "o/"], tmp_path)
    assert box.returncode == 0, box.stderr
    assert box.stdout.split() == ["o/a_78x60.png"]  # fits 100x60: the height binds


def test_progress_is_plain_lines_in_logs_and_a_bar_on_a_terminal(tmp_path):
    for i in range(2):
        _save(tmp_path / "in" / f"{i}.png", seed=i)
    logged = _run(["in", "-o", "log"], tmp_path)
    assert logged.returncode == 0 and "\r" not in logged.stderr
    assert "[1/2] 0.png" in logged.stderr and "[2/2] 1.png" in logged.stderr
    main, child = pty.openpty()  # stderr a terminal: one tqdm bar, with rate
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([*UP, "in", "-o", "tty"], cwd=tmp_path, env=env, stderr=child,
                            stdout=subprocess.DEVNULL)  # fmt: skip
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0
    text = seen.decode(errors="replace")
    assert "upscaling" in text and "image/s" in text and "2/2" in text, text
    assert "[1/2]" not in text


def test_threads_default_to_the_cpus_this_process_may_use():
    if hasattr(os, "sched_getaffinity"):
        assert default_num_threads() == len(os.sched_getaffinity(0))
        code = (
            "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from maffsrn_tf.upscaler.engines import default_num_threads as d; print(d())"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=ROOT))  # fmt: skip
        assert out.stdout.strip() == "1", out.stderr
    else:
        assert default_num_threads() == os.cpu_count()


def test_the_library_prints_nothing_and_never_imports_tensorflow():
    code = (
        "import sys, numpy as np, maffsrn_tf\n"
        "rgba = np.zeros((20, 30, 4), np.uint8); rgba[5:15, 5:25] = 255\n"
        "out = maffsrn_tf.upscale(rgba, outscale=2.5)\n"
        "print(out.shape, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(50, 75, 4) False False"
    # LiteRT's one INFO line cannot be silenced short of redirecting stderr (docs say so)
    rest = [x for x in run.stderr.splitlines() if "XNNPACK delegate" not in x]
    assert rest == [], run.stderr


@pytest.mark.parametrize("flag", ["-i", "-o", "-s", "-q", "-f"])
def test_help_groups_flags_by_meaning_without_markup(flag):
    out = _run(["--help"], ROOT).stdout
    flags_help = out[out.index("Input and output:") :]
    headings = [x for x in flags_help.splitlines() if x.endswith(":") and not x[0].isspace()]
    assert headings[:6] == ["Input and output:", "Output size:", "Model:", "Output files:",
                            "Video:", "Speed and limits:"], headings  # fmt: skip
    assert "``" not in out and "::" not in out and "maffsrn_tf.cli" not in out
    assert f"  {flag}, --" in out
    # the only measured numbers: int8's drops (tests/export/test_worst_image.py holds them)
    assert {m for m in re.findall(r"[0-9.-]+ dB", out)} <= {"0.03-0.04 dB", "0.85 dB"}, out


def _jpeg_with_metadata(path):
    """A JPEG taken 'on a camera': EXIF (make, date, GPS, orientation 6), an sRGB profile,
    300 dpi."""
    from PIL import ImageCms

    im = Image.fromarray(photo(30, 40))
    exif = Image.Exif()
    exif[0x010F], exif[0x0132], exif[0x0112] = "Hasselblad", "2026:12:07 10:00:00", 6
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 0.0)  # GPS latitude
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    im.save(path, exif=exif, icc_profile=icc, dpi=(300, 300), quality=95)
    return icc


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".avif", ".tiff"])
def test_metadata_is_carried_or_stripped_end_to_end(tmp_path, ext):
    icc = _jpeg_with_metadata(tmp_path / "cam.jpg")
    kept = _run(["cam.jpg", "-o", f"kept{ext}"], tmp_path)
    assert kept.returncode == 0, kept.stderr
    with Image.open(tmp_path / f"kept{ext}") as im:
        exif = im.getexif()
        assert im.size == (60, 80)  # upright: the orientation is applied to the pixels
        assert exif.get(0x010F) == "Hasselblad" and exif.get(0x0112, 1) == 1
        assert exif.get_ifd(0x8825).get(2) is not None  # GPS kept
        assert im.info.get("icc_profile") == icc
    bare = _run(["cam.jpg", "-o", f"bare{ext}", "--strip_metadata"], tmp_path)
    assert bare.returncode == 0, bare.stderr
    with Image.open(tmp_path / f"bare{ext}") as im:
        assert 0x010F not in im.getexif() and not im.getexif().get_ifd(0x8825)
        assert im.info.get("icc_profile") == icc  # the colours' meaning stays


def test_transparency_keeps_clean_edges_and_flattens_onto_the_background(tmp_path):
    """A white shape on transparent black: its visible edge stays white through the command;
    into JPEG it is flattened onto --background, with one notice."""
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[10:30, 12:36] = 255
    Image.fromarray(rgba).save(tmp_path / "logo.png")
    run = _run(["logo.png", "-o", "logo_x2.png"], tmp_path)
    assert run.returncode == 0, run.stderr
    out = np.asarray(Image.open(tmp_path / "logo_x2.png"))
    visible = out[..., 3] > 127
    assert out[..., :3][visible].min() >= 250, out[..., :3][visible].min()
    flat = _run(["logo.png", "-o", "logo.jpg", "--background", "#ff0000"], tmp_path)
    assert flat.returncode == 0, flat.stderr
    notes = [x for x in flat.stderr.splitlines() if x.startswith("warning:")]
    assert notes == ["warning: .jpg has no transparency: it is flattened onto --background #ff0000"]
    jpg = np.asarray(Image.open(tmp_path / "logo.jpg")).astype(int)
    assert abs(jpg[2, 2] - [255, 0, 0]).max() <= 8  # transparent corner: the background
    assert abs(jpg[40, 48] - [255, 255, 255]).max() <= 8  # inside the shape: white


def test_the_file_api_is_quiet_takes_paths_and_refuses_no_inputs(tmp_path):
    """upscale_path(): nothing on stderr unless progress=True, pathlib paths, and a glob that
    matched nothing is an error (never the sample photo)."""
    code = (
        "import pathlib, sys\n"
        "from maffsrn_tf.upscaler import UpscaleError, upscale_path\n"
        "out = upscale_path([pathlib.Path('a.png'), 'b.png'], pathlib.Path('o'))\n"
        "print(sorted(out))\n"
        "for empty in ([], '', ()):\n"
        "    try:\n"
        "        upscale_path(empty, 'p')\n"
        "    except UpscaleError as err:\n"
        "        print(str(err).split(':')[0])\n"
    )
    for name in ("a.png", "b.png"):
        _save(tmp_path / name)
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["['o/a_x2.png', 'o/b_x2.png']", *["no inputs"] * 3]
    assert [x for x in run.stderr.splitlines() if "XNNPACK" not in x] == [], run.stderr
    assert not os.path.exists(tmp_path / "p")


def test_reruns_and_overlapping_inputs_are_planned_once(tmp_path):
    _save(tmp_path / "same" / "a.png")
    assert _run(["same", "-o", "same"], tmp_path).returncode == 0
    other = _run(["same", "-o", "same", "--outscale", "3"], tmp_path)  # another size
    assert other.returncode == 0, other.stderr
    assert "skipping 1 earlier output(s) of this command: a_x2.png" in other.stderr
    assert sorted(os.listdir(tmp_path / "same")) == ["a.png", "a_x2.png", "a_x3.png"]
    _save(tmp_path / "solo" / "a.png")
    twice = _run(["solo/a.png", "solo/", "./solo/a.png", "-o", "o"], tmp_path)  # glob + folder
    assert twice.returncode == 0, twice.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["a_x2.png"]
    os.makedirs(tmp_path / "f" / "a_x2.png")  # a folder where the output goes
    folder = _run(["same/a.png", "-o", "f/"], tmp_path)
    assert folder.returncode == 1 and "output f/a_x2.png is a folder" in folder.stderr
    assert os.listdir(tmp_path / "f" / "a_x2.png") == []


def test_upscale_of_a_pil_image_carries_its_metadata_and_shows_progress_on_request(tmp_path):
    icc = _jpeg_with_metadata(tmp_path / "cam.jpg")
    code = (
        "from PIL import Image; import maffsrn_tf\n"
        "out = maffsrn_tf.upscale(Image.open('cam.jpg'), outscale=2.5, progress=True)\n"
        "exif = out.getexif()\n"
        "print(out.size, exif.get(0x010F), exif.get(0x0112), out.info['dpi'], "
        "len(out.info['icc_profile']))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=ROOT))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"(75, 100) Hasselblad 1 (300.0, 300.0) {len(icc)}"
    assert "upscaling" in run.stderr and "tile" in run.stderr  # the bar asked for


def _clip(path, **kwargs):
    """A short FFV1 clip with AAC audio (``tests/upscaler/test_video.py``'s; skipped without
    PyAV, the ``[video]`` extra)."""
    pytest.importorskip("av")
    from tests.upscaler.test_video import make_clip

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return make_clip(path, **kwargs)


def test_a_video_alone_and_in_a_folder_of_images(tmp_path):
    import av

    _clip(tmp_path / "in" / "clip.mkv")
    _save(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "notes.txt").write_text("x")
    one = _run(["--input", "in/clip.mkv", "--output", "clip_x2.mp4", "--quantization", "int8"],
               tmp_path)  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert one.stdout.split() == ["clip_x2.mp4"]
    assert one.stderr.splitlines()[-1].startswith("clip.mkv: 12 frames in 0:00:0")  # in logs
    with av.open(str(tmp_path / "clip_x2.mp4")) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 96, 80)
        assert len(list(container.decode(video))) == 12 and len(container.streams.audio) == 1
    folder = _run(["in", "-o", "out", "--quantization", "int8", "--container", "MKV", "-f",
                   "jpg"], tmp_path)  # fmt: skip
    assert folder.returncode == 0, folder.stderr
    assert sorted(folder.stdout.split()) == ["out/a_x2.jpg", "out/clip_x2.mkv"]
    assert folder.stderr.count("warning: for the images of this run only: the format (jpg); "
                               "videos keep their container and crf") == 1  # fmt: skip
    assert "[2/2] clip.mkv" in folder.stderr
    assert (
        "warning: skipping 1 file(s) without an image extension, nor videos: in/notes.txt"
        in folder.stderr
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["clip.mkv", "-f", "png"], "error: --format png is an image format; a video keeps its "
         "container (--container mkv changes it)"),
        (["clip.mkv", "-q", "80"], "error: --quality 80 applies to lossy images (.jpg, .jpeg, "
         ".webp, .avif); a video's quality is set by its constant rate factor (--crf)"),
        (["clip.mkv", "--codec", "libx266"], "error: --codec libx266: this PyAV build has no "
         "such video encoder; it has "),
        (["clip.mkv", "-o", "clip.webm"], "error: clip.mkv: its aac audio cannot go into .webm "
         "as it is (audio is copied, not re-encoded); write the video as .mkv, which holds it "
         "(--container mkv, or an output name in .mkv)"),
        (["a.png", "--crf", "20"], "error: --crf 20 applies to videos, and this run has none"),
        (["a.png", "clip.mkv", "-o", "mix/", "-q", "50"], "error: --quality 50 applies to lossy "
         "outputs (.jpg, .jpeg, .webp, .avif), and no image of this run is written as one"),
    ],  # the last: no notice that the quality is the images' before the refusal
)  # fmt: skip
def test_image_and_video_flags_are_used_or_refused(tmp_path, args, message):
    _clip(tmp_path / "clip.mkv")
    _save(tmp_path / "a.png")
    run = _run(args, tmp_path)
    assert run.returncode == 1 and run.stdout == ""
    assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith(message), run.stderr
    assert sorted(os.listdir(tmp_path)) == ["a.png", "clip.mkv"]


def test_without_pyav_a_video_is_one_line_and_images_still_work(tmp_path):
    _clip(tmp_path / "clip.mkv")
    _save(tmp_path / "a.png")
    code = ("import runpy, sys; sys.modules['av'] = None; sys.argv[0] = 'maffsrn-upscale'; "
            "runpy.run_module('maffsrn_tf.cli.upscale', run_name='__main__')")  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-c", code, "clip.mkv"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 1
    assert run.stderr == ('error: clip.mkv: videos are read and written with PyAV: '
                          'pip install "maffsrn_tf[video]"\n')  # fmt: skip
    image = subprocess.run([sys.executable, "-c", code, "a.png"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)  # fmt: skip
    assert image.returncode == 0 and image.stdout == "out/a_x2.png\n", image.stderr
    # a folder of both: the images are done, each video fails alone naming the install;
    # a file named otherwise than an image or a video may be a video: the line says so
    shutil.copy(tmp_path / "clip.mkv", tmp_path / "clip")
    os.mkdir(tmp_path / "mix")
    for name in ("clip.mkv", "a.png", "clip"):
        shutil.copy(tmp_path / name, tmp_path / "mix" / name)
    both = subprocess.run([sys.executable, "-c", code, "mix", "-o", "done"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert both.returncode == 1 and both.stdout == "done/a_x2.png\n", both.stderr
    lines = both.stderr.splitlines()
    assert lines[0].startswith("warning: skipping 1 file(s) without an image extension (a "
                               "video named otherwise than .mp4, .mkv,")  # fmt: skip
    assert lines[-2:] == [
        'error: mix/clip.mkv: videos are read and written with PyAV: pip install '
        '"maffsrn_tf[video]"', "error: 1 of 2 files failed: clip.mkv"]  # fmt: skip
    assert os.listdir(tmp_path / "done") == ["a_x2.png"]
    bare = subprocess.run([sys.executable, "-c", code, "clip", "-o", "x.png"], cwd=tmp_path,
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert bare.returncode == 1 and bare.stderr == (
        "error: clip is not an image Pillow reads; if it is a video, videos are read with "
        'PyAV: pip install "maffsrn_tf[video]"\n')  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["a.png", "--tile", "0", "--overlap", "4"], "error: --overlap applies between tiles, "
         "and --tile 0 runs each image whole: leave one out"),
        (["--nooverwrite"], "error: --nooverwrite: the sample's output is rewritten at each run "
         "(--skip_existing keeps it); name your images to upscale them"),
    ],
)  # fmt: skip
def test_words_that_could_do_nothing_are_refused(tmp_path, args, message):
    _save(tmp_path / "a.png")
    run = _run([*args, "--quantization", "int8"], tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (1, "", message + "\n")
    assert os.listdir(tmp_path) == ["a.png"]


def test_a_background_that_changes_nothing_is_said(tmp_path):
    _save(tmp_path / "a.png")
    rgba = np.zeros((20, 24, 4), np.uint8)
    rgba[4:12, 4:12] = (200, 10, 10, 255)
    Image.fromarray(rgba).save(tmp_path / "t.png")
    opaque = _run(
        ["a.png", "-o", "a2.png", "--background", "red", "--quantization", "int8"], tmp_path
    )
    assert opaque.returncode == 0, opaque.stderr
    assert opaque.stderr == (
        "warning: --background red changed nothing: no image of this run has transparency\n"
    )
    flat = _run(
        ["t.png", "-o", "t2.png", "--background", "red", "--quantization", "int8"], tmp_path
    )
    assert flat.returncode == 0 and flat.stderr == "", flat.stderr
    assert np.asarray(Image.open(tmp_path / "t2.png")).shape == (40, 48, 3)
