# make upscale: the main job (upscale an image; the shipped sample photo when INPUT is empty),
#               in a runtime-only venv (.venv-runtime: the LiteRT upscaler, no TensorFlow)
# make test:    lint + format check + the whole test suite (slow end-to-end tests included),
#               in the full development venv (.venv)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME_VENV ?= .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
export MAFFSRN_SHARED ?= $(abspath ../shared)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install install-runtime test test-fast lint upscale evaluate tflite tflite-study bench bench-all clean web \
	web-build web-dist web-screenshot chromium android-build jdk

INPUT ?=
SCALE ?= 2
BENCH := $(MAFFSRN_SHARED)/data/benchmark
TRAIN := $(MAFFSRN_SHARED)/data/train/SR291

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,torch,tfds,jax,onnx,beam,video,serve]"
	touch $(STAMP)

install: $(STAMP)

# The runtime install (pip install maffsrn_tf, no extras), editable so it follows the checkout.
# Fast path: a venv without its own pip, filled by this Python's pip (--python, pip >= 22.3),
# no .pyc compiled at install; otherwise a plain venv with pip.
PIP_FLAGS := -q --disable-pip-version-check --no-compile
$(RUNTIME_STAMP): setup.py
	rm -rf $(RUNTIME_VENV)
	if $(PYTHON) -m pip --help 2>/dev/null | grep -q -- '--python <python>'; then \
		$(PYTHON) -m venv --without-pip $(RUNTIME_VENV) && \
		$(PYTHON) -m pip --python $(RUNTIME_VENV)/bin/python install $(PIP_FLAGS) -e . ; \
	else \
		$(PYTHON) -m venv $(RUNTIME_VENV) && \
		$(RUNTIME_VENV)/bin/python -m pip install $(PIP_FLAGS) -e . ; \
	fi
	touch $(RUNTIME_STAMP)

install-runtime: $(RUNTIME_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint web-build chromium android-build
	$(BIN)/python -m pytest -n 2 --durations=15 -q -rs

test-fast: lint
	$(BIN)/python -m pytest -n 2 -q -rs -m "not slow"

# The main job: upscale INPUT (a file or folder; default: a sample photo) into out/, with a
# bicubic | MAFFSRN comparison image next to it.
upscale: $(RUNTIME_STAMP)
	$(RUNTIME_VENV)/bin/maffsrn-upscale --scale $(SCALE) --compare $(if $(INPUT),--input "$(INPUT)",)

# Set5/Set14 tables of the shipped weights at x2, x3, x4 (MATLAB protocol).
evaluate: $(STAMP)
	for s in 2 3 4; do $(BIN)/maffsrn-evaluate --scale $$s --datasets $(BENCH)/Set5,$(BENCH)/Set14 || exit 1; done

# The shipped TFLite models (inside the package) and their report (tflite/), from the shipped
# weights: dynamic shape and fixed 128x128 LR tiles (float16, int8, int8 with uint8 I/O).
tflite: $(STAMP)
	$(BIN)/maffsrn-export --scales 2,3,4 --quantizations float16,int8 --tiles 0,128 --uint8_io \
		--datasets $(BENCH)/Set5,$(BENCH)/Set14 --stress_set --calibration_dir $(TRAIN) \
		--output_dir maffsrn_tf/weights --report_dir tflite --overwrite

# All five quantization modes at x2 and x4 (models in out/, report in tflite/QUANTIZATION.md).
tflite-study: $(STAMP)
	$(BIN)/maffsrn-export --scales 2,4 --quantizations float32,float16,dynamic,int8,int16x8 \
		--output_dir out/tflite_study --report_dir tflite --report QUANTIZATION \
		--datasets $(BENCH)/Set5 --calibration_dir $(TRAIN) --overwrite

# The table of README "Performance", video frames per second at 640x360 -> x2 and the
# maffsrn-serve load table (docs/benchmarks.md); bench-all adds the focused studies below it.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/video_fps.py --frames 30 --model_frames 10 --repeats 3
	$(BIN)/python benchmarks/serve_load.py --clients 4 --requests 25 --size 64

bench-all: bench
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/div2k_memory.py
	$(BIN)/python benchmarks/tiling.py --scale 2

# The LiteRT.js page (web/): npm packages from the lockfile, the worker bundled by esbuild.
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

web/dist/worker.js: web/node_modules/.package-lock.json web/src/worker.js web/src/tiling.js
	cd web && npm run --silent build

web-build: web/dist/worker.js

# The page as one self-contained folder for any static host (GitHub Pages, Netlify, ...).
web-dist: web-build
	$(PYTHON) web/build_site.py --out web/site

# Serve the page on 127.0.0.1 and print its URL.
web: $(STAMP) web-build
	$(BIN)/python web/serve.py

# Debian's Chromium for the browser test (nothing downloads a browser build of its own).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The Android tiling core's compiler: kotlinc from npm's kotlin-compiler (lockfile), on Debian's
# JDK 17; tests/contracts/test_android.py compiles android/src and runs it on the JVM.
jdk:
	@command -v javac >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openjdk-17-jdk-headless >/dev/null; }

android/node_modules/.package-lock.json: android/package.json android/package-lock.json
	cd android && npm ci --no-audit --no-fund --loglevel=error

android-build: jdk android/node_modules/.package-lock.json

# The README's screenshot of the finished page: docs/web_page.png.
web-screenshot: $(STAMP) web-build chromium
	$(BIN)/python web/screenshot.py

clean:
	rm -rf $(VENV) $(RUNTIME_VENV) build dist *.egg-info .pytest_cache .ruff_cache web/node_modules web/dist web/site android/node_modules
