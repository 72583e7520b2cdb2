#!/usr/bin/env bash
# One training chunk on the lent GPU machine (KERAS_BACKEND=jax, no TensorFlow there), used through the
# `device` tool; docs/TRAINING.md records every call. Usage (repo root on the GPU machine):
#   bash scripts/gpu_train.sh PIPELINE RUN_NAME SECONDS [--set k=v ...]
# The run directory lives outside the repo (/root/runs/RUN_NAME) so consecutive calls on the same warm
# machine resume it; `timeout -s INT` ends the chunk with the trainer's Ctrl-C path (checkpoint, then exit).
# Small results (log, config) and, with PACK=1, float16 generator weights split in <16 MiB parts go to $OUT, with
# the critic of an adversarial run (scripts/pack_chunk.py).
set -uo pipefail
# The photos may come in an earlier call on the same warm machine (GPU.md: 64 MiB travel per call, so a
# session that also carries large init weights sends .gpu/data first): the photos are copied to /root/data
# (GPU_DATA_ROOT, for the tests), and training reads from there. `--stage` only copies.
data_root=${GPU_DATA_ROOT:-/root/data}
# Each of .gpu/data/{train,val} that this call carries replaces the one on the machine, so a call may carry
# only one of them. TRAIN_FROM / VAL_FROM name another carried folder to use instead: a smaller val set
# (VAL_FROM=.gpu/val5: a call with the training photos and a 21 MB init model has no room for the full one,
# docs/TRAINING.md, cycle 17) or a subset of the photos (TRAIN_FROM: a call with a 33 MB init model has room for a
# subset only; scripts/gpu_photo_subset.py makes one, cycle 18), so that such a call is useful alone.
for part in train val; do
  var=${part^^}_FROM
  from=${!var:-}
  if [ -n "$from" ]; then
    if [ ! -d "$from" ]; then echo "$var=$from is not a folder in this call: carry it" >&2; exit 2; fi
  elif [ -d ".gpu/data/$part" ]; then
    from=.gpu/data/$part
  else
    continue
  fi
  mkdir -p "$data_root" && rm -rf "${data_root:?}/$part" && cp -r "$from" "$data_root/$part" || exit 2
done
if [ ! -d "$data_root/train" ]; then
  echo "no training photos on this machine: carry .gpu/data (train/, val/) in this call or an earlier one" >&2
  exit 2
fi
if [ "${1:-}" = "--stage" ]; then ls "$data_root"; exit 0; fi
pipeline=$1 run=$2 secs=$3; shift 3
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl >/dev/null 2>&1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
# XLA's compiled programs on the machine's disk: the next call on the same warm machine (a resumed chunk) loads
# them instead of compiling again (60-120 s of each call in cycles 14-15; a 2-core CPU smoke run: 33 -> 25 s)
export JAX_COMPILATION_CACHE_DIR=/root/jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=1
rundir=/root/runs/$run
mkdir -p /root/runs
data=(--set data.train_dir=$data_root/train --set data.val_dir=$data_root/val
      --set loss.vgg_weights=$PWD/.gpu/vgg16_imagenet_block3.npz)
if [ -f "$rundir/config.toml" ]; then
  args=(-o "$rundir" --resume)
else
  args=(-p "$pipeline" -o "$rundir" "${data[@]}")
fi
# The host, so that a slow chunk can be told from a slow recipe (cycle 22 ran at 19 steps/s where cycle 21 ran
# at 32 with the same code and data path): GPU clocks, power and temperature, the CPU and its load.
nvidia-smi --query-gpu=name,memory.used,utilization.gpu,clocks.sm,clocks.max.sm,power.draw,temperature.gpu \
  --format=csv,noheader
echo "host: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
timeout -s INT "$secs" python3 -m deblur_tf.cli train "${args[@]}" --no-progress "$@"
rc=$?
echo "chunk rc=$rc wall=$(( $(date +%s) - start ))s"
# which checkpoints the next call will resume from (cycle 15 resumed from an older one than the Ctrl-C wrote)
ls "$rundir/checkpoints" 2>/dev/null | tr '\n' ' '; echo
mkdir -p "$OUT/$run"
cp "$rundir/log.csv" "$rundir/config.toml" "$rundir/generator.json" "$OUT/$run/" 2>/dev/null
tail -n 5 "$rundir/log.csv"
if [ "${PACK:-0}" = 1 ]; then
  python3 scripts/pack_chunk.py "$rundir" "$OUT/$run/packed"
  (cd "$OUT/$run/packed" && split -b 15m weights.npz weights.npz.part. && rm weights.npz)
  ls -la "$OUT/$run/packed"
fi
