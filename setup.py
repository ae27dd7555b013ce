"""Install maffsrn_tf: ``pip install .`` (CPU or GPU TensorFlow 2.21, Keras 3)."""

from setuptools import find_packages, setup

setup(
    name="maffsrn_tf",
    version="0.1.0",
    description="MAFFSRN lightweight super-resolution in TensorFlow/Keras 3, with TFLite export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["maffsrn_tf", "maffsrn_tf.*"]),
    package_data={"maffsrn_tf": ["weights/*.npz", "weights/*.json", "weights/*.tflite"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<4",
        "numpy>=1.26",
        "pillow>=11",
        "absl-py>=2.1",
        "tensorboard>=2.21,<2.22",
        "ai-edge-litert>=2.3,<3",
        "psutil>=5.9",
        # 16-bit RGB PNG read/write (Pillow only does 16-bit grayscale).
        "pypng>=0.20220715",
        # Ships the offline sample photo (grace_hopper.jpg) used by `maffsrn-upscale` with no input.
        "matplotlib>=3.8",
    ],
    extras_require={
        # playwright drives the system Chromium in the browser test (no browser download)
        "dev": [
            "pytest>=8",
            "pytest-xdist>=3.6",
            "ruff==0.17.6",
            "scipy>=1.13",
            "playwright==1.65.2",
            # the reference reader our NumPy-only .safetensors export is checked against
            "safetensors>=0.4",
            # the wheel test builds without build isolation (no download)
            "setuptools>=61",
            "wheel",
        ],
        # The CPU build on these machines; elsewhere use PyTorch's CPU index for a small install.
        "torch": ["torch==2.13.0"],
        # Keras' JAX backend on CPU (tests/test_backends.py)
        "jax": ["jax[cpu]==0.10.2"],
        "tfds": ["tensorflow-datasets>=4.9.10"],
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
            )
        ]
    },
)
