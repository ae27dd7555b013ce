"""``maffsrn-serve``'s command line: bad flags, a missing [serve] install and an address in
use are one ``error:`` line and exit code 1, before anything is served; the library's
options object checks what the flags check."""

import re
import socket
import subprocess
import sys

import pytest
from conftest import PROBE
from serve_process import ROOT

from maffsrn_tf import MaffsrnError
from maffsrn_tf.serve import ServeOptions
from maffsrn_tf.serve.service import ServeError, output_extension, request_options


def _serve(*args, prelude=""):
    code = prelude + PROBE
    cmd = [sys.executable, "-c", code, "maffsrn_tf.cli.serve", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "flag --workers=0: 0 is not an integer in the range [1, 256]"),
        (["--port", "70000"], "flag --port=70000: 70000 is not an integer in the range"),
        (["--timeout", "0"], "flag --timeout=0: 0.0 is not a number in the range [0.1,"),
        (["--max_megapixels", "0"], "--max_megapixels must be a positive number"),
        (["--max_body_mb", "nan"], "--max_body_mb must be a positive number"),
        (["--host", ""], "--host is empty: name an address"),
        (["8080"], "unexpected argument '8080': maffsrn-serve takes flags only"),
        (["--port=0x10"], "--port takes a whole number in the digits 0-9, not '0x10'"),
        (["--port", "1_6"], "--port takes a whole number in the digits 0-9, not '1_6'"),
        (["--host=0"], "--host 0 is not a dotted IPv4 address (it would mean 0.0.0.0)"),
        (["--host", "127.1"], "write the address in full, 127.0.0.1 for this machine"),
        (["--max_output_megapixels", "0"], "--max_output_megapixels must be a positive number"),
        (["--uploads", "0"], "flag --uploads=0: 0 is not an integer in the range [1,"),
        (["--forwarded_allow_ips="], "--forwarded_allow_ips is empty: give it a value"),
    ],
)
def test_bad_flags_are_one_line_before_serving(args, message):
    run = _serve(*args)
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert run.stdout.strip() == "False", "TensorFlow was imported"


PROXIES = (
    "write the proxies' IP addresses or networks, comma-separated (127.0.0.1,10.0.0.0/8 or "
    "::1), or * for any"
)


@pytest.mark.parametrize(
    "value, message",
    [
        ("notanip", f"--forwarded_allow_ips notanip: 'notanip' is not an IP address or network; "
         f"{PROXIES}"),
        ("localhost", "--forwarded_allow_ips localhost: 'localhost' is not an IP address or "
         f"network; {PROXIES}"),
        ("127.0.0.1,10.0.0.300", "--forwarded_allow_ips 127.0.0.1,10.0.0.300: '10.0.0.300' is "
         f"not an IP address or network; {PROXIES}"),
        ("10.0.0.1/8", "--forwarded_allow_ips 10.0.0.1/8: '10.0.0.1/8' is not an IP network "
         f"(its host bits are set: the network is 10.0.0.0/8); {PROXIES}"),
        ("*,10.0.0.1", "--forwarded_allow_ips *,10.0.0.1: * means any proxy, so it goes alone; "
         f"{PROXIES}"),
        ("10.0.0.1,", f"--forwarded_allow_ips 10.0.0.1, holds an empty address; {PROXIES}"),
    ],
)  # fmt: skip
def test_forwarded_allow_ips_takes_ip_addresses_networks_or_a_star(value, message):
    run = _serve("--forwarded_allow_ips", value, "--port", "0")
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert run.stderr.splitlines() == [f"error: {message}"]
    assert run.stdout.strip() == "False", "TensorFlow was imported"


def test_forwarded_allow_ips_as_uvicorn_reads_them():
    for value, kept in [
        ("", ""),
        (" * ", "*"),  # uvicorn trusts any proxy for "*" alone, not " * "
        ("127.0.0.1, 10.0.0.0/8 ,::1", "127.0.0.1,10.0.0.0/8,::1"),
    ]:
        assert ServeOptions(forwarded_allow_ips=value).forwarded_allow_ips == kept


def test_without_the_serve_extra_it_says_what_to_install():
    run = _serve("--port", "0", prelude="import sys\nsys.modules['starlette'] = None\n")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "error: maffsrn-serve needs Starlette and uvicorn (starlette is missing): pip install "
        '"maffsrn_tf[serve]"'
    )


def test_an_address_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = _serve("--host", "127.0.0.1", "--port", str(port), "--workers", "1")
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use); pick another "
        "port (--port 0: any free one)"
    )


def test_an_address_not_of_this_host_is_named():
    run = _serve("--host", "10.255.255.1", "--port", "0", "--workers", "1")
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == (
        "error: cannot listen on 10.255.255.1:0 (Cannot assign requested address): "
        "10.255.255.1 is not an address of this machine; use 127.0.0.1, 0.0.0.0 (every "
        "interface) or one of its own addresses"
    )


def test_busy_counts_are_plural_only_past_one():
    from maffsrn_tf.serve.app import _count

    assert [_count(n, "request") for n in (0, 1, 2)] == ["0 requests", "1 request", "2 requests"]


def test_serve_options_check_what_the_flags_check():
    options = ServeOptions(workers=3, queue=5, timeout=30)
    assert options.capacity == 8 and options.timeout == 30.0
    assert options.threads_per_worker >= 1
    for bad, words in [
        ({"workers": 0}, "workers=0 is below 1"),
        ({"queue": -1}, "queue=-1 is below 0"),
        ({"timeout": float("inf")}, "timeout=inf is not a finite number"),
        ({"port": 65536}, "port=65536 is above 65535"),
        ({"max_pixels": 0}, "max_pixels=0 is not a positive number of pixels"),
        ({"max_output_pixels": 0}, "max_output_pixels=0 is not a positive number"),
        ({"host": "0"}, "is not a dotted IPv4 address"),
        ({"host": " "}, "names no address"),
        ({"workers": "2"}, "workers='2' is not of type int"),
    ]:
        with pytest.raises(MaffsrnError, match=words):
            ServeOptions(**bad)


@pytest.mark.parametrize(
    "accept, expected",
    [
        ("", ".jpg"),
        ("image/avif;q=0.8, image/webp;q=0.9", ".webp"),
        ("IMAGE/PNG", ".png"),
        ("*/*;q=0.5, image/jpeg;q=0.4", ".png"),  # JPEG's own q is lower: PNG, next
        (",, ,", ".jpg"),  # empty list elements: none, as without the header
        ("image/webp;q=1.000, image/png;q=0.999", ".webp"),
        ("text/html;level=1, image/bmp;q=0.1", ".bmp"),
    ],
)
def test_accept_is_read_as_rfc_9110_says(accept, expected):
    assert output_extension(accept, ".jpg") == expected


@pytest.mark.parametrize(
    "accept, shown",
    [
        ("image/jpeg;q=1.5", "image/jpeg;q=1.5"),  # it was left out: PNG, without a word
        ("image/png;q=oops, image/bmp", "image/png;q=oops"),
        ("image/webp;q=nan", "image/webp;q=nan"),
        ("image/webp;q=0.0001", "image/webp;q=0.0001"),
        ("nonsense", "nonsense"),
        ("*/png", "*/png"),
        ("image/png, image/j peg", "image/j peg"),
    ],
)
def test_an_accept_range_that_cannot_be_read_is_400_naming_it(accept, shown):
    with pytest.raises(ServeError) as refused:
        output_extension(accept, ".jpg")
    assert refused.value.status == 400
    assert str(refused.value) == (
        f"Accept: {shown!r} is not a media range with a q from 0 to 1 (image/png, "
        "image/*;q=0.5): fix it, or leave Accept out for the input's format"
    )


def test_query_values_are_typed_before_upscale_options_check_them():
    options = request_options([("outscale", "2.5"), ("strip_metadata", "true")], ServeOptions())
    assert options.outscale == 2.5 and options.strip_metadata and options.scale is None
    options = request_options([("scale", "4"), ("self_ensemble", "false")], ServeOptions())
    assert options.scale == 4 and not options.self_ensemble
    for items, words in [
        ([("strip_metadata", "yes")], "strip_metadata='yes' is not true or false"),
        ([("self_ensemble", "True")], "self_ensemble='True' is not true or false"),
        ([("scale", "0x2")], "scale='0x2' is not an integer in ASCII digits"),
        ([("outscale", "1.5e0")], "outscale='1.5e0' is not a number in ASCII digits"),
    ]:
        with pytest.raises(ServeError, match=re.escape(words)) as refused:
            request_options(items, ServeOptions())
        assert refused.value.status == 400
    assert options.max_pixels == 16_000_000 and options.variant == "float16"
    assert request_options([], ServeOptions()).scale == 2  # upscale()'s default
