#!/usr/bin/env bash
# One weights-campaign run on a lent GPU machine under Keras' JAX backend. That machine has
# JAX, PyTorch, absl, h5py and Pillow but no TensorFlow, no Keras and no network, and takes at
# most 64 MiB of files: the training set travels as a maffsrn-pack file (38.5 MiB), the
# holdout images as a folder, Keras as wheels.
#
#   bash tools/device_campaign.sh prepare            # here, once: fills .device/ (git-ignored)
#   # then, through the device tool: carry [".device"], timeout_s ~ SECONDS + 90
#   bash tools/device_campaign.sh run 2 480          # scale, seconds of training
#
# The run continues from the shipped weights of the scale (--init_weights), validates on the
# holdout every 1000 iterations (a moving average of the weights, EMA=0 for none, as measured
# on the x3 run: README "Train"), keeps the best weights and a backup every 500 iterations in
# $OUT/run, and stops itself after SECONDS (what it left under $OUT comes back). Ship the
# result here with tools/ship_weights.py --append_history (see docs/MODEL_CARD.md).
set -euo pipefail
mode=${1:?usage: device_campaign.sh prepare | run SCALE SECONDS}

if [ "$mode" = prepare ]; then
  bin=${VENV:-.venv}/bin
  grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
  mkdir -p .device/whl .device/val
  shared=${MAFFSRN_SHARED:-../shared}
  "$bin/maffsrn-pack" --data_dir "$shared/data/train/SR291" --holdout splits/sr291_val.txt \
    --output .device/sr291.npz --overwrite
  grep -v '^#' splits/sr291_val.txt | while read -r name; do
    [ -n "$name" ] && cp "$shared/data/train/SR291/$name" .device/val/
  done
  keras_version=$("$bin/python" -c "import keras; print(keras.__version__)")
  "$bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .device/whl "keras==$keras_version" namex optree
  du -sh .device
  exit 0
fi

scale=${2:-2}
seconds=${3:-480}
out=${OUT:-out/device}
if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .device/whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1
mkdir -p "$out"
status=0
timeout --signal=INT "$seconds" python3 -m maffsrn_tf.cli.train --data_source packed \
  --data_dir .device/sr291.npz --val_dir .device/val --scale "$scale" \
  --init_weights "maffsrn_tf/weights/maffsrn_x$scale.npz" --learning_rate "${LR:-2e-4}" \
  --epochs "${EPOCHS:-1000}" --steps_per_epoch 1000 --decay_epochs "${DECAY_EPOCHS:-20}" \
  --ema_momentum "${EMA:-0.999}" --backup_every_steps 500 --verbose 2 \
  --model_dir "$out/run" 2>&1 | tee "$out/train.log" \
  || status=$?
# a run stopped by its time limit is a normal end: its best weights and log are in $out/run
echo "training ended with status $status after at most ${seconds}s"
ls -la "$out/run"
