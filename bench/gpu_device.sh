#!/usr/bin/env bash
# The one command for a lent GPU machine (CUDA + JAX, no TensorFlow, no internet): installs the carried
# Keras wheels, then runs bench/gpu_train.py on generated ML-100K-, 1M- and 10M-event sets with mixed
# precision and float32. Figures land in $OUT (gpu_*.json, gpu.log).
#
#   here:       bash bench/gpu_wheels.sh                      # fills bench/out/wheels (git-ignored)
#   device:     run(command="bash bench/gpu_device.sh", carry=["bench/out/wheels"], timeout_s=540)
#   CPU check:  GPU_BENCH_SMALL=1 OUT=/tmp/gpu-out bash bench/gpu_device.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    bench/out/wheels/*.whl || { echo "carry bench/out/wheels (bash bench/gpu_wheels.sh)"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
exec > >(tee "$OUT/gpu.log") 2>&1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
python3 -c "import sys, jax, keras; print(sys.version.split()[0], 'jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
if [ -n "${GPU_BENCH_SMALL:-}" ]; then
  sets=("small 20000 300 500 5 64")
else
  #     name  events   users  items  steps batch sizes
  sets=("100k 100000   943    1682   30    64 512"
        "1m   1000000  6040   3706   150   64 512"
        "10m  10000000 69878  10677  150   64 512")
fi
for s in "${sets[@]}"; do
  read -r name events users items steps batches <<<"$s"
  echo "== $name: $events events, $users users, $items items, $steps steps, batch $batches"
  timeout 170 python3 bench/gpu_train.py --events "$events" --users "$users" --items "$items" --steps "$steps" \
    --batch-size $batches --json "$OUT/gpu_$name.json" || echo "== $name ended with status $?"
done
date -u
