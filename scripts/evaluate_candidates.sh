#!/usr/bin/env bash
# The quality campaign's three fixed sets (docs/TRAINING.md, the shipping rule; docs/RESULTS.md), with every
# model in one `deblur-tf evaluate` call per set, so shipped and candidate figures come from one run, one machine:
#   bash scripts/evaluate_candidates.sh c17 nafnet out/cand/naf17 out/cand/soup17
# writes out/results/{vs,real,s2024}_TAG/ and a .log beside each (OUT_ROOT moves them). It refuses a TAG whose
# folders exist, before running anything, so earlier figures are never replaced. DRY_RUN=1 prints the commands.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/evaluate_candidates.sh TAG MODEL [MODEL ...]  (MODEL: a shipped name or a folder)"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
tag=$1; shift
[[ $tag =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "TAG '$tag': use letters, digits, '_', '.', '-'" >&2; exit 2; }
out=${OUT_ROOT:-out/results}
models=()
for m in "$@"; do models+=(--model "$m"); done
sets=(vs real s2024)
declare -A args=(
  [vs]="--preset val-shake --nsr 0.0237 --tikhonov-weight 0.0056 --rl-iters 20"
  [real]="--pairs ../shared/data/real_blur/paired --crop-mismatch --mean-matched"
  [s2024]="--sharp ../shared/data/sharp/val --synthetic-seed 2024 --kernel-size 31 --noise-std 0.01 --no-lpips"
)
for s in "${sets[@]}"; do
  if [ -e "$out/${s}_$tag" ]; then
    echo "$out/${s}_$tag exists: choose another TAG or move it away (nothing was run)" >&2; exit 2
  fi
done
for s in "${sets[@]}"; do
  # shellcheck disable=SC2086  # the set's options are words on purpose
  cmd=(deblur-tf evaluate ${args[$s]} --baselines blurred "${models[@]}" --out "$out/${s}_$tag")
  if [ -n "${DRY_RUN:-}" ]; then echo "${cmd[*]}"; continue; fi
  mkdir -p "$out"
  echo "== $s: ${cmd[*]}"
  if ! KERAS_BACKEND=${KERAS_BACKEND:-tensorflow} "${cmd[@]}" > "$out/${s}_$tag.log" 2>&1; then
    echo "evaluate failed on $s: see $out/${s}_$tag.log" >&2; exit 1
  fi
  grep '^|' "$out/${s}_$tag/summary.md"
done
