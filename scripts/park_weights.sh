#!/usr/bin/env bash
# Keep the shipped weights that a device call does not need out of the tree that travels (docs/GPU.md: 64 MiB
# per call; the four shipped models are ~92 MB), and put them back afterwards. Parked files go to .park/
# (ignored, so they do not travel); git sees them as deleted until `restore`.
#   bash scripts/park_weights.sh keep nafnet     # every model folder but nafnet's generator weights parked
#   bash scripts/park_weights.sh keep none       # everything parked (the call that stages the photos)
#   bash scripts/park_weights.sh restore         # everything back; run it before committing
set -euo pipefail
cd "$(dirname "$0")/.."
weights=deblur_tf/weights park=.park
case "${1:-}" in
  keep)
    keep=${2:?name the model to keep, or none}
    if [ "$keep" != none ] && [ ! -d "$weights/$keep" ]; then
      echo "no shipped model $keep in $weights (deblur-tf models lists them)" >&2; exit 2
    fi
    for dir in "$weights"/*/; do
      name=$(basename "$dir")
      mkdir -p "$park/$name"
      for f in "$dir"*; do
        [ -e "$f" ] || continue
        base=$(basename "$f")
        # the kept model keeps what loading it needs; its critic (11 MB) is only for `explain`
        if [ "$name" = "$keep" ] && [[ $base != critic* ]]; then continue; fi
        if [ -e "$park/$name/$base" ]; then
          echo "$park/$name/$base exists already: run 'restore' first" >&2; exit 2
        fi
        mv "$f" "$park/$name/"
      done
    done ;;
  restore)
    [ -d "$park" ] || { echo "nothing parked"; exit 0; }
    for dir in "$park"/*/; do
      name=$(basename "$dir")
      mkdir -p "$weights/$name"
      for f in "$dir"*; do
        [ -e "$f" ] || continue
        if [ -e "$weights/$name/$(basename "$f")" ]; then
          echo "$weights/$name/$(basename "$f") exists in the tree and in $park: keeping both, resolve by hand" >&2
          continue
        fi
        mv "$f" "$weights/$name/"
      done
      rmdir "$dir" 2>/dev/null || true
    done
    rmdir "$park" 2>/dev/null || true ;;
  *)
    sed -n '2,8p' "$0" >&2; exit 2 ;;
esac
du -sh "$weights" | sed 's/^/in the tree: /'
