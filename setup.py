"""Install maffsrn_tf.

``pip install maffsrn_tf``: the LiteRT upscaling runtime (``maffsrn-upscale``, ``upscale()``,
the shipped TFLite models; no TensorFlow). ``pip install "maffsrn_tf[tensorflow]"``: training,
evaluation, export and the Keras model (TensorFlow 2.21, Keras 3). See the README's Install.
"""

import posixpath
import re

from setuptools import find_packages, setup

with open("maffsrn_tf/version.py", encoding="utf-8") as f:
    VERSION = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)

# ai-edge-litert publishes wheels for these platforms only (2.3: Linux x86-64 and aarch64,
# macOS arm64, Windows x86-64); elsewhere the package installs without it and the upscaler
# says what to do (the Keras backend, with [tensorflow]). tests/contracts/test_platforms.py
# resolves the plain install for each.
LITERT_PLATFORMS = (
    "(sys_platform == 'linux' and (platform_machine == 'x86_64' or platform_machine == 'aarch64'))"
    " or (sys_platform == 'darwin' and platform_machine == 'arm64')"
    " or (sys_platform == 'win32'"
    " and (platform_machine == 'AMD64' or platform_machine == 'x86_64'))"
)
TENSORFLOW = [
    "tensorflow>=2.21,<2.22",
    "keras>=3.15,<4",
    "tensorboard>=2.21,<2.22",
]


def absolute_links(markdown, url="https://github.com/maffsrn-tf/maffsrn_tf", branch="main"):
    """The README with its relative links and images made absolute, for the package index
    page (where a relative path leads nowhere): a link to ``URL/blob/BRANCH/PATH``
    (``tree/`` for a folder), an image to ``raw.githubusercontent.com``. Links with a scheme,
    anchors (``#...``), absolute paths and fenced code blocks stay as they are."""
    raw = url.replace("https://github.com/", "https://raw.githubusercontent.com/", 1)
    link = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(([^()\s]+)")

    def replace(match):
        bang, text, target = match.groups()
        text = link.sub(replace, text)  # an image inside a link's text
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:|[#/]", target):
            path, anchor = (target.split("#", 1) + [""])[:2]
            path = posixpath.normpath(path) + ("/" if path.endswith("/") else "")
            if bang:
                target = f"{raw}/{branch}/{path}"
            else:
                kind = "tree" if path.endswith("/") else "blob"
                target = f"{url}/{kind}/{branch}/{path}" + (f"#{anchor}" if anchor else "")
        return f"{bang}[{text}]({target}"

    parts = re.split(r"(^```.*?^```[^\n]*$)", markdown, flags=re.M | re.S)
    return "".join(p if p.startswith("```") else link.sub(replace, p) for p in parts)


setup(
    name="maffsrn_tf",
    version=VERSION,
    description="MAFFSRN lightweight super-resolution in TensorFlow/Keras 3, with TFLite export",
    long_description=absolute_links(open("README.md", encoding="utf-8").read()),
    long_description_content_type="text/markdown",
    url="https://github.com/maffsrn-tf/maffsrn_tf",
    license="Apache-2.0",
    python_requires=">=3.10",
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Image Processing",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    packages=find_packages(include=["maffsrn_tf", "maffsrn_tf.*"]),
    package_data={
        "maffsrn_tf": [
            "model/*.json",
            "weights/*.npz",
            "weights/*.json",
            "weights/*.tflite",
            "samples/*.jpg",
            "samples/*.txt",
        ]
    },
    # the runtime: what maffsrn-upscale and upscale() need to run the shipped TFLite models
    install_requires=[
        "numpy>=1.26",
        "pillow>=11.3",  # the first whose wheels write AVIF (11.3.0 release notes)
        "absl-py>=2.1",
        # 16-bit RGB PNG read/write (Pillow only does 16-bit grayscale)
        "pypng>=0.20220715",
        f"ai-edge-litert>=2.3,<3; {LITERT_PLATFORMS}",
    ],
    extras_require={
        "tensorflow": TENSORFLOW,
        "tfds": [*TENSORFLOW, "tensorflow-datasets>=4.9.10"],
        # The CPU build on these machines; elsewhere use PyTorch's CPU index for a small install.
        "torch": ["torch==2.13.0"],
        # maffsrn-export --formats onnx: tf2onnx converts, onnxruntime verifies (docs/serving.md)
        "onnx": [*TENSORFLOW, "tf2onnx>=1.17,<1.18", "onnx>=1.17", "onnxruntime>=1.20"],
        # maffsrn-beam: runs the shipped TFLite models on LiteRT (no TensorFlow needed); Beam
        # pins its own protobuf (6.x) and Pillow (12.x) ranges, which [tensorflow] accepts
        "beam": ["apache-beam>=2.77,<3"],
        # maffsrn-upscale on videos (upscale_video): PyAV's wheels carry FFmpeg
        "video": ["av>=14"],
        # maffsrn-serve: the HTTP endpoint on the light install
        "serve": ["starlette>=0.40", "uvicorn>=0.30"],
        # Keras' JAX backend on CPU (tests/upscaler/test_engines.py)
        "jax": ["jax[cpu]==0.10.2"],
        # playwright drives the system Chromium in the browser test (no browser download)
        "dev": [
            *TENSORFLOW,
            "pytest>=8",
            "pytest-xdist>=3.6",
            "ruff==0.17.6",
            "scipy>=1.13",
            "playwright==1.65.2",
            # the reference reader our NumPy-only .safetensors export is checked against
            "safetensors>=0.4",
            # the wheel test builds without build isolation (no download); release checks
            "setuptools>=61",
            "wheel",
            "build>=1.2",
            "twine>=6",
            # benchmarks (peak RSS) and the model card's plots
            "psutil>=5.9",
            "matplotlib>=3.8",
        ],
    },
    entry_points={
        "console_scripts": [
            f"maffsrn-{name.replace('_', '-')}=maffsrn_tf.cli.{name}:cli"
            for name in (
                "train",
                "evaluate",
                "upscale",
                "export",
                "profile",
                "convert_weights",
                "pack",
                "beam",
                "serve",
            )
        ]
    },
)
