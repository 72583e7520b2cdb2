#!/usr/bin/env bash
# End-to-end test of the in-browser demo (export/web): LiteRT.js in headless Chromium must give the same
# pixels as LiteRT Python on the same .tflite and photo (PSNR > 40 dB). Installs what it needs on a clean
# machine (Debian's chromium via apt when /usr/bin/chromium is missing, LiteRT.js + playwright-core via
# npm ci), makes a tiny seeded .tflite fixture, and leaves a screenshot in test-artifacts/.
# Called by .ci/run; run it by hand the same way: bash scripts/browser_test.sh [IMAGE]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${DEBLUR_SHARED:-$ROOT/../shared}
IMAGE=${1:-$SHARED/data/real_blur/unpaired/4c6.png}
ART=$ROOT/test-artifacts
FIXTURE=$ART/browser_fixture

if [ ! -f "$IMAGE" ]; then
  echo "error: $IMAGE not found (the browser test needs ../shared beside the checkout, or DEBLUR_SHARED)" >&2
  exit 2
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
if ! command -v npm >/dev/null; then
  echo "== installing nodejs + npm (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
echo "== npm ci (export/web)"
(cd export/web && npm ci --no-audit --no-fund --loglevel=error)
echo "== unit tests of the page's tiling (node --test)"
node --test export/web/test/tiling.test.mjs

if [ ! -x .venv/bin/python ]; then
  PY=${PYTHON:-python3.11}
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
mkdir -p "$ART"
rm -rf "$FIXTURE"
echo "== fixture: tiny .tflite + LiteRT Python reference on $(basename "$IMAGE")"
python export/web/test/reference.py --image "$IMAGE" --out "$FIXTURE" 2> "$ART/browser_reference.log" | tail -n 1
echo "== headless Chromium, no GPU: the page must fall back to WebAssembly + XNNPACK ($(/usr/bin/chromium --version 2>/dev/null | tail -n 1))"
DEBLUR_TF="$ROOT/.venv/bin/deblur-tf" node export/web/test/e2e.mjs --fixture "$FIXTURE" --artifacts "$ART" --expect-accelerator wasm
echo "== headless Chromium with a software WebGPU adapter (SwiftShader): the page must pick WebGPU"
DEBLUR_TF="$ROOT/.venv/bin/deblur-tf" node export/web/test/e2e.mjs --fixture "$FIXTURE" --artifacts "$ART" \
  --gpu swiftshader --expect-accelerator webgpu --name browser_demo_webgpu
