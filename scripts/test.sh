#!/usr/bin/env bash
# The project's one test command (README, .ci/run): make/refresh .venv from the pinned requirements, lint,
# then run pytest twice, once per Keras backend (TensorFlow-only tests run in the first pass only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install -q --disable-pip-version-check -r requirements-dev.txt -e .
ruff check deblur_tf tests benchmarks
export TF_CPP_MIN_LOG_LEVEL=2
mkdir -p test-artifacts
echo "== pytest, KERAS_BACKEND=tensorflow"
KERAS_BACKEND=tensorflow python -m pytest -q -p no:cacheprovider "$@"
echo "== pytest, KERAS_BACKEND=jax"
KERAS_BACKEND=jax python -m pytest -q -p no:cacheprovider "$@"
