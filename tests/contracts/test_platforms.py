"""The plain install per platform: ``pip install maffsrn_tf`` brings the LiteRT runtime where
ai-edge-litert publishes wheels (Linux x86-64/aarch64, macOS arm64, Windows x86-64) and leaves
it out elsewhere (an Intel Mac), and the upscaler then says what works there.

The slow tests resolve the install for each target with pip's dry run (``--platform``,
``--python-version``, ``--only-binary=:all:``, ``--report``), installing nothing. pip does not
evaluate environment markers for the ``--platform`` target: it evaluates them for the
interpreter that runs it (checked: with ``--platform win_amd64`` on Linux, tqdm's
``colorama; platform_system == "Windows"`` is not pulled in, and the report's
``environment`` is the running Linux one; a test below holds it). So the markers of
setup.py's ``install_requires`` are evaluated here, with ``packaging``, for each target's
environment, and pip resolves what they leave.

They need the package index: outside CI an unreachable index skips them; with ``CI`` set
it fails them (as ``conftest.shared_path`` does for missing data). See docs/platforms.md.
"""

import json
import os
import runpy
import subprocess
import sys

import pytest
from conftest import ROOT, photo
from packaging import tags
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

from maffsrn_tf.upscaler import engines

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # setup.py's python_requires (>=3.10) onwards
# glibc 2.28 (RHEL 8, Debian 10): pip expands macOS tags to older ones, not manylinux ones
LINUX = [f"manylinux_2_{minor}" for minor in range(28, 16, -1)] + ["manylinux2014"]


def _environment(system, machine, python):
    """The marker environment of CPython ``python`` on ``system`` (``sys.platform``) and
    ``machine`` (``platform.machine()``)."""
    names = {"linux": ("Linux", "posix"), "darwin": ("Darwin", "posix"), "win32": ("Windows", "nt")}
    platform_system, os_name = names.get(system, (system, "posix"))
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": os_name,
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": platform_system,
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": system,
    }


# target: (sys.platform, platform.machine(), the wheel platform tags pip is given)
WITH_LITERT = {
    "win_amd64": ("win32", "AMD64", ["win_amd64"]),
    "macosx_12_0_arm64": ("darwin", "arm64", ["macosx_12_0_arm64"]),
    "manylinux_2_28_x86_64": ("linux", "x86_64", [f"{p}_x86_64" for p in LINUX]),
    "manylinux_2_28_aarch64": ("linux", "aarch64", [f"{p}_aarch64" for p in LINUX]),
}
WITHOUT_LITERT = {
    "macosx_12_0_x86_64": ("darwin", "x86_64", ["macosx_12_0_x86_64"]),
    "win_arm64": ("win32", "ARM64", ["win_arm64"]),
}
# what the upscaler tells an Intel Mac to install, as it says it (checked to resolve there):
# the last LiteRT wheel (cp310, cp311), Keras on the last JAX wheel (Keras 3.15: Python 3.11+)
INTEL_MAC = {
    "litert": (
        ["ai-edge-litert==1.0.1", "numpy<2"],
        'pip install "ai-edge-litert==1.0.1" "numpy<2"',
    ),
    "jax": (["keras", "jax[cpu]==0.4.38"], 'pip install keras "jax[cpu]==0.4.38"'),
}


@pytest.fixture(scope="module")
def install_requires():
    """setup.py's ``install_requires``, read by running it with ``setuptools.setup`` replaced
    (nothing is built or installed)."""
    import setuptools

    seen = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        patch.setattr(setuptools, "setup", lambda **kwargs: seen.update(kwargs))
        runpy.run_path(os.path.join(ROOT, "setup.py"), run_name="__main__")
    return [Requirement(r) for r in seen["install_requires"]]


def _litert(requirements):
    (req,) = [r for r in requirements if canonicalize_name(r.name) == "ai-edge-litert"]
    return req


def _unmarked(requirement):
    """A requirement as a pip argument, without its marker."""
    copy = Requirement(str(requirement))
    copy.marker = None
    return str(copy)


def _applying(requirements, env):
    """The requirements whose markers hold in ``env``, as pip arguments without markers."""
    return [_unmarked(r) for r in requirements if r.marker is None or r.marker.evaluate(env)]


@pytest.mark.parametrize(
    "system, machine, litert",
    [
        ("linux", "x86_64", True),
        ("linux", "aarch64", True),
        ("darwin", "arm64", True),
        ("win32", "AMD64", True),
        ("darwin", "x86_64", False),  # Intel Mac: ai-edge-litert 2.x has no wheel
        ("win32", "ARM64", False),
        ("linux", "armv7l", False),
        ("linux", "ppc64le", False),
        ("freebsd14", "amd64", False),
    ],
)
def test_the_marker_brings_litert_where_it_has_wheels(install_requires, system, machine, litert):
    """setup.py's marker, and ``engines.LITERT_WHEELS`` (which picks the upscaler's message),
    name the same platforms; the other requirements hold everywhere."""
    env = _environment(system, machine, "3.11")
    assert _litert(install_requires).marker.evaluate(env) is litert
    assert ((system, machine) in engines.LITERT_WHEELS) is litert
    others = [r for r in install_requires if canonicalize_name(r.name) != "ai-edge-litert"]
    assert others and all(r.marker is None for r in others)


def test_pip_evaluates_markers_for_the_running_interpreter(tmp_path):
    """Why the markers are evaluated here: given another ``--platform``, pip still tests a
    requirement's marker against the interpreter running it, so a requirement only the
    target needs is dropped (offline: nothing is looked up)."""
    target, system = ("macosx_12_0_arm64", "darwin")
    if sys.platform == "darwin":
        target, system = ("win_amd64", "win32")
    report = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-index",
         "--only-binary=:all:", "--platform", target, "--python-version", "3.11",
         "--implementation", "cp", "--report", str(report), "--disable-pip-version-check",
         f"colorama; sys_platform == '{system}'"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["install"] == []  # the target's requirement, ignored
    assert result["environment"]["sys_platform"] == sys.platform
    assert "don't match your environment" in run.stdout + run.stderr


def _pip_dry_run(requirements, platforms, python, tmp_path, timeout=300):
    """pip's dry run of ``requirements`` for CPython ``python`` on ``platforms``: the
    completed process and the report's ``install`` list (None when it failed)."""
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
           "--only-binary=:all:", "--python-version", python, "--implementation", "cp",
           "--report", str(report), "--disable-pip-version-check", "--no-input",
           "--timeout", "30", "--retries", "2", "-q"]  # fmt: skip
    for platform_tag in platforms:
        cmd += ["--platform", platform_tag]
    run = subprocess.run(cmd + requirements, capture_output=True, text=True, timeout=timeout)
    installs = json.loads(report.read_text())["install"] if run.returncode == 0 else None
    return run, installs


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The package index answers (one pinned wheel, looked up past pip's cache); else skip,
    or fail with ``CI`` set."""
    run, _ = _pip_dry_run(
        ["--no-cache-dir", "--no-deps", "ai-edge-litert==2.3.0"], ["win_amd64"], "3.11",
        tmp_path_factory.mktemp("probe"), timeout=120,
    )  # fmt: skip
    if run.returncode != 0:
        lines = run.stderr.strip().splitlines() or ["(no message)"]
        message = f"the package index is unreachable: {lines[-1]}"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)


def _check_wheels(installs, platforms, python, wanted):
    """Every resolved file is a wheel for the target, and each of ``wanted`` (requirement
    strings) is among them, at a version it allows; ``{name: (version, wheel file)}``."""
    major, minor = map(int, python.split("."))
    expanded = [p for tag in platforms for p in _expand(tag)]
    allowed = set(tags.cpython_tags(python_version=(major, minor), platforms=expanded))
    allowed |= set(
        tags.compatible_tags(python_version=(major, minor), interpreter=f"cp{major}{minor}",
                             platforms=expanded)
    )  # fmt: skip
    found = {}
    for item in installs:
        filename = item["download_info"]["url"].rsplit("/", 1)[-1]
        assert filename.endswith(".whl"), filename
        assert set(parse_wheel_filename(filename)[3]) & allowed, f"{filename}: not for {python}"
        name = canonicalize_name(item["metadata"]["name"])
        found[name] = (Version(item["metadata"]["version"]), filename)
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in found, f"{req.name} not resolved: {sorted(found)}"
        assert req.specifier.contains(found[name][0], prereleases=True), (text, found[name])
    return found


def _expand(tag):
    """The platform tags a wheel may carry for a target tag (pip's own expansion of a macOS
    tag to older versions)."""
    if tag.startswith("macosx_"):
        _, major, minor, arch = tag.split("_", 3)
        return list(tags.mac_platforms((int(major), int(minor)), arch))
    return [tag]


# one Python per platform (each dry run takes 2-3 s), the newest and oldest on Windows
RESOLVED = [(target, "3.11") for target in WITH_LITERT] + [("win_amd64", PYTHONS[-1])]


@pytest.mark.slow
@pytest.mark.parametrize("target, python", RESOLVED)
def test_the_plain_install_resolves_with_litert(install_requires, index, tmp_path, target, python):
    system, machine, platforms = WITH_LITERT[target]
    wanted = _applying(install_requires, _environment(system, machine, python))
    assert any(r.startswith("ai-edge-litert") for r in wanted)
    run, installs = _pip_dry_run(wanted, platforms, python, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    found = _check_wheels(installs, platforms, python, wanted)
    version, filename = found["ai-edge-litert"]
    assert version >= Version("2.3"), filename
    wheel_platforms = {t.platform for t in parse_wheel_filename(filename)[3]}
    assert wheel_platforms & set(p for tag in platforms for p in _expand(tag)), filename
    assert {"numpy", "pillow", "absl-py", "pypng"} <= set(found)


@pytest.mark.slow
@pytest.mark.parametrize(
    "target, python",
    [("macosx_12_0_x86_64", "3.11"), ("win_arm64", "3.13")],  # numpy: 3.11+
)
def test_without_litert_the_rest_installs_and_litert_has_no_wheel(
    install_requires, index, tmp_path, target, python
):
    """Where the marker leaves LiteRT out, the rest of the plain install resolves, and
    ai-edge-litert 2.x has no wheel indeed (when it gets one, the marker should take it)."""
    system, machine, platforms = WITHOUT_LITERT[target]
    wanted = _applying(install_requires, _environment(system, machine, python))
    assert not any(r.startswith("ai-edge-litert") for r in wanted)
    run, installs = _pip_dry_run(wanted, platforms, python, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert {"numpy", "pillow", "absl-py", "pypng"} <= set(
        _check_wheels(installs, platforms, python, wanted)
    )
    run, _ = _pip_dry_run([_unmarked(_litert(install_requires))], platforms, python, tmp_path)
    assert run.returncode != 0, (
        f"ai-edge-litert has a wheel for {target} now: add it to setup.py's LITERT_PLATFORMS "
        "and engines.LITERT_WHEELS"
    )
    assert "No matching distribution found for ai-edge-litert" in run.stderr, run.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, python",
    [("litert", "3.11"), ("jax", "3.12"), ("tensorflow", "3.11")],
)  # fmt: skip
def test_what_the_upscaler_tells_an_intel_mac_resolves_there(
    install_requires, index, tmp_path, extra, python
):
    """The Intel Mac message's two ways resolve there (the last LiteRT wheel, 1.0.1, with
    NumPy 1.x; Keras on the last JAX with an Intel Mac wheel), and TensorFlow 2.21, which
    it does not offer, does not (its last Intel Mac wheel is 2.16.2)."""
    message = engines.missing_runtime_message("darwin", "x86_64")
    system, machine, platforms = WITHOUT_LITERT["macosx_12_0_x86_64"]
    wanted = _applying(install_requires, _environment(system, machine, python))
    if extra == "tensorflow":
        assert "[tensorflow]" not in message
        run, _ = _pip_dry_run(["tensorflow>=2.21,<2.22"], platforms, python, tmp_path)
        assert run.returncode != 0 and "No matching distribution found" in run.stderr
        return
    more, words = INTEL_MAC[extra]
    assert words in message, message
    run, installs = _pip_dry_run(wanted + more, platforms, python, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    found = _check_wheels(installs, platforms, python, wanted + more)
    if extra == "litert":
        assert "macosx_10_15_x86_64" in found["ai-edge-litert"][1]


def test_the_missing_runtime_message_names_the_platform_and_what_works_there():
    supported = engines.missing_runtime_message("win32", "AMD64")
    assert '"ai-edge-litert>=2.3,<3"' in supported and "backend='keras'" in supported
    intel = engines.missing_runtime_message("darwin", "x86_64")
    assert "macOS x86_64 (Intel)" in intel and "KERAS_BACKEND=jax" in intel
    other = engines.missing_runtime_message("win32", "ARM64")
    assert "no wheel for Windows ARM64" in other and engines.LITERT_WHEEL_WORDS in other
    for message in (supported, intel, other):
        assert "needs the LiteRT runtime " in message and "\n" not in message


def test_a_model_path_outside_ascii_is_read_as_bytes_where_paths_are_narrow(tmp_path, monkeypatch):
    """Where LiteRT's file calls cannot name a path (Windows, outside ASCII), the model is
    passed as its bytes, and runs the same."""
    import numpy as np

    pytest.importorskip("ai_edge_litert")
    from maffsrn_tf.model.shipped import tflite_path

    source = tflite_path(2, "float16")
    copy = tmp_path / "modèle_x2.tflite"
    copy.write_bytes(open(source, "rb").read())
    x = np.random.default_rng(0).random((1, 20, 24, 3), dtype=np.float32)
    expected = engines.TFLiteEngine(str(copy), num_threads=1)(x)
    given = []
    real = engines._model_source
    monkeypatch.setattr(engines, "NARROW_PATHS", True)
    monkeypatch.setattr(engines, "_model_source", lambda p: given.append(real(p)) or given[-1])
    engine = engines.TFLiteEngine(str(copy), num_threads=1)
    assert list(given[0]) == ["model_content"] and engine.scale == 2
    np.testing.assert_array_equal(engine(x), expected)
    assert list(real(source)) == ["model_path"]  # an ASCII path is passed as it is


# the upscaler in a process without what Windows lacks: POSIX-only os functions, signals and
# modules; sys.platform says win32 once imported, and os.kill must not be called (there it
# sends Ctrl-C or ends the process)
WITHOUT_POSIX = """
import os, signal, sys
for name in ("sched_getaffinity", "sched_setaffinity", "fork", "forkpty", "mkfifo", "mknod",
             "getuid", "geteuid", "getgid", "getpgid", "killpg", "setsid", "getloadavg",
             "O_NOFOLLOW", "O_DIRECTORY"):
    if hasattr(os, name):
        delattr(os, name)
for name in ("SIGHUP", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGCHLD",
             "SIGQUIT"):
    if hasattr(signal, name):
        delattr(signal, name)
for module in ("fcntl", "termios", "tty", "resource", "pwd", "grp"):
    sys.modules[module] = None
sys.argv = ["maffsrn-upscale", "photo.png", "-o", "out/photo_x2.png"]
import maffsrn_tf.cli.upscale as command
from maffsrn_tf.upscaler import engines

assert engines.default_num_threads() == min(os.cpu_count() or 1, engines.MAX_THREADS)
def kill(pid, sig):
    raise AssertionError(f"os.kill({pid}, {sig}) called")
os.kill = kill
sys.platform = "win32"
command.cli()
"""


def test_the_upscaler_runs_without_posix_only_calls(tmp_path):
    """``maffsrn-upscale photo.png`` imports and runs with the POSIX-only calls gone, and
    leaves a live-looking temporary of another run (one it cannot probe) alone."""
    from PIL import Image

    pytest.importorskip("ai_edge_litert")
    Image.fromarray(photo(36, 44)).save(tmp_path / "photo.png")
    (tmp_path / "out").mkdir()
    from maffsrn_tf.io.atomic import TEMPORARY_PREFIX, _machine

    ours = f"{TEMPORARY_PREFIX}{_machine()}-p"
    other = tmp_path / "out" / f"{ours}0-abcd1234-other_x2.png"  # pid 0: the whole console
    other.write_bytes(b"x")
    run = subprocess.run([sys.executable, "-c", WITHOUT_POSIX], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert Image.open(tmp_path / "out" / "photo_x2.png").size == (88, 72)
    assert other.exists()


def test_a_temporary_s_writer_is_not_probed_on_windows(monkeypatch):
    from maffsrn_tf.io import atomic

    def kill(pid, sig):
        raise AssertionError("os.kill called")

    monkeypatch.setattr(atomic.os, "kill", kill)
    monkeypatch.setattr(atomic.sys, "platform", "win32")
    ours = f"{atomic.TEMPORARY_PREFIX}{atomic._machine()}-p"
    assert atomic._writer_is_gone(f"{ours}0-abcd1234-a_x2.png") is False
    assert atomic._writer_is_gone(f"{ours}{2**22 + 7}-abcd1234-a_x2.png") is False

    def gone(pid, sig):
        raise ProcessLookupError(pid)

    monkeypatch.setattr(atomic.os, "kill", gone)
    monkeypatch.setattr(atomic.sys, "platform", "linux")  # the same name, probed elsewhere
    assert atomic._writer_is_gone(f"{ours}{2**22 + 7}-abcd1234-a_x2.png") is True


def test_an_output_file_ending_in_either_separator_names_a_folder(monkeypatch, tmp_path, capsys):
    """On Windows ``new/`` and ``new\\`` both name a folder, not a file to write."""
    from maffsrn_tf.cli import common

    assert common.SEPARATORS == tuple(s for s in (os.sep, os.altsep) if s)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(common, "SEPARATORS", ("\\", "/"))  # Windows' os.sep, os.altsep
    for path in ("new/", "new\\"):
        with pytest.raises(SystemExit):
            common.check_output_file(path, "--json")
        assert f"--json {path} is a folder: name a file" in capsys.readouterr().err
