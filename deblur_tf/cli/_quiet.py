"""Keep native libraries' log lines (TensorFlow, the TFLite converter, LiteRT) off the user's terminal.

TensorFlow 2.21 writes "All log messages before absl::InitializeLog()...", oneDNN and CUDA-stub notices and,
on a machine without a GPU, an `E0000 ... cuInit` "error" from C++ before its log level settings
(TF_CPP_MIN_LOG_LEVEL) take effect; the TFLite converter prints a page of MLIR/SavedModel-reader lines. The
only way to keep them off `deblur-tf`'s output is to point file descriptor 2 elsewhere while that code runs.
If it fails, what it wrote is replayed so the reason is not lost. DEBLUR_TF_VERBOSE=1 turns this off.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Capture what is written to fd 2 inside the block; replay it if the block raises."""
    if os.environ.get("DEBLUR_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow_import() -> None:
    """Load Keras-on-TensorFlow now, with fd 2 captured; does nothing under another Keras backend."""
    if "tensorflow" in sys.modules or os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    try:
        if importlib.util.find_spec("tensorflow") is None:
            return
    except (ImportError, ValueError):
        return
    with quiet_native_stderr():
        import keras  # noqa: F401  (loads TensorFlow as its backend)
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery: where the CUDA notices come from
