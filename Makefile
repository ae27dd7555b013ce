# make upscale: the main job (upscale an image; a generated sample when INPUT is empty)
# make test:    lint + format check + the whole test suite (slow end-to-end tests included)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MAFFSRN_SHARED ?= $(abspath ../shared)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-fast lint upscale evaluate tflite tflite-study bench clean

INPUT ?=
SCALE ?= 2
BENCH := $(MAFFSRN_SHARED)/data/benchmark

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,torch,tfds]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n 2 --durations=15 -q -rs

test-fast: lint
	$(BIN)/python -m pytest -n 2 -q -rs -m "not slow"

# The main job: upscale INPUT (a file or folder; default: a sample photo) into out/, with a
# bicubic | MAFFSRN comparison image next to it.
upscale: $(STAMP)
	$(BIN)/maffsrn-upscale --scale $(SCALE) --compare $(if $(INPUT),--input "$(INPUT)",)

# Set5/Set14 tables of the shipped weights at x2, x3, x4 (MATLAB protocol).
evaluate: $(STAMP)
	for s in 2 3 4; do $(BIN)/maffsrn-evaluate --scale $$s --datasets $(BENCH)/Set5,$(BENCH)/Set14 || exit 1; done

# The shipped TFLite models (inside the package) and their report (tflite/), from the shipped weights.
tflite: $(STAMP)
	$(BIN)/maffsrn-export --scales 2,3,4 --quantizations float16,int8 \
		--output_dir maffsrn_tf/weights --report_dir tflite

# All five quantization modes at x2 and x4 (models in out/, report in tflite/QUANTIZATION.md).
tflite-study: $(STAMP)
	$(BIN)/maffsrn-export --scales 2,4 --quantizations float32,float16,dynamic,int8,int16x8 \
		--output_dir out/tflite_study --report_dir tflite --report QUANTIZATION \
		--datasets $(BENCH)/Set5

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/memory.py
	$(BIN)/python benchmarks/div2k_memory.py
	$(BIN)/python benchmarks/tiling.py --scale 2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
