#!/usr/bin/env bash
# Downloads what the GPU machine lacks to run the model with KERAS_BACKEND=jax (it has Python 3.12, JAX,
# numpy, pandas, pyarrow, scipy, h5py, rich, absl-py, ml-dtypes; not keras, namex, optree, keras-rs) into the
# git-ignored bench/out/wheels, which bench/gpu_device.sh installs there. About 3 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d bench/out/wheels \
  keras==3.15.1 namex==0.1.0 optree==0.20.0 keras-rs==0.4.0
ls -l bench/out/wheels
