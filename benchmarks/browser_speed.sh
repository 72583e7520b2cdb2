#!/usr/bin/env bash
# Speed of the in-browser demo (LiteRT.js, WebAssembly + XNNPACK, headless Chromium) against LiteRT Python
# on the same .tflite, per generator kind. Speed does not depend on the weights, so untrained generators
# (seed 0) are exported; output agreement (PSNR) is checked as in the browser test.
#   bash benchmarks/browser_speed.sh [IMAGE] [REPEAT]
# Prints, per kind and input (one 256x256 tile: a 224x224 crop plus the 16-px reflect margin; the whole
# photo): browser median ms over REPEAT runs, Python LiteRT median (1 thread, like the page's WebAssembly
# build), PSNR. Needs what scripts/browser_test.sh installs (chromium, npm ci in export/web).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${1:-$ROOT/../shared/data/real_blur/unpaired/01.png}
REPEAT=${2:-5}
OUT=$ROOT/test-artifacts/browser_speed
# shellcheck disable=SC1091
. .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
mkdir -p "$OUT"
echo "machine: $(lscpu | grep 'Model name' | sed 's/ \+/ /g'), $(nproc) cores; $(date -u +%F); $(/usr/bin/chromium --version)"
echo "image: $IMAGE"
for KIND in mobile resnet; do
  python - "$KIND" "$OUT/$KIND.keras" <<'PY' 2>/dev/null
import sys, keras
from deblur_tf.models import build_generator
keras.utils.set_random_seed(0)
build_generator(sys.argv[1]).save(sys.argv[2])
PY
  deblur-tf demo --model "$OUT/$KIND.keras" -o "$OUT/site_$KIND" --build-only --overwrite 2>/dev/null
  for CROP in 224x224 full; do
    [ "$KIND" = resnet ] && [ "$CROP" = full ] && continue  # minutes per photo on 1 core: per-tile figure only
    CROPARG=(); [ "$CROP" = full ] || CROPARG=(--crop "$CROP")
    FIX="$OUT/fixture_${KIND}_$CROP"
    python export/web/test/reference.py --image "$IMAGE" --tflite "$OUT/site_$KIND/model.tflite" "${CROPARG[@]}" \
      --out "$FIX" --repeat "$REPEAT" 2>/dev/null | python -c "import json,sys; m=json.load(sys.stdin); print(f\"$KIND $CROP: python LiteRT (1 thread) median {m['python_litert_seconds']*1000:.0f} ms for {m['width']}x{m['height']} ({m['tiles']} tiles of {m['tile'][0]}x{m['tile'][1]})\")"
    DEBLUR_TF="$ROOT/.venv/bin/deblur-tf" node export/web/test/e2e.mjs --fixture "$FIX" \
      --artifacts "$OUT/art_${KIND}_$CROP" --repeat "$REPEAT" | grep -E "browser time|PSNR >|passed"
  done
done
