"""Running exported `.tflite` deblurring models with the LiteRT interpreter, without importing TensorFlow.

Why a separate module: a phone, a Raspberry Pi or the `deblur-tf deblur --model x.tflite` check on a user's
laptop should not need the 500 MB TensorFlow wheel; `ai-edge-litert` alone runs the file (XNNPACK is its
default CPU delegate for float and int8 models).

The `.tflite` files written by `deblur_tf.export` share one contract (docs/DEPLOY.md):

- one signature, `serving_default`, with one input `image` and one output `restored`, both NHWC RGB of a
  fixed size (batch 1, size in the file name, e.g. `deblurgan_256x256_fp16.tflite`): mobile apps allocate
  their buffers once, and a fixed shape lets the converter fold every shape computation;
- float files (fp32, fp16 weights, dynamic-range int8) take and return float32 images in [0, 1];
- the full-integer int8 file takes and returns uint8 pixels: its input quantisation is exactly
  scale 1/255, zero point 0, so a camera frame's bytes go in unchanged; the output's scale/zero point are
  read from the file.

`TFLiteRunner` hides those differences: it accepts [0, 1] floats of any size (tiling larger images with the
project's tiler, mirror-padding smaller ones) and returns [0, 1] floats.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from deblur_tf.errors import DeblurError
from deblur_tf.inference import Deblurrer
from deblur_tf.zoo import LoadedModel

SIGNATURE = "serving_default"
INPUT_NAME = "image"
OUTPUT_NAME = "restored"
TFLITE_MAGIC = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite file


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # TensorFlow also carries the (deprecated) interpreter
        try:
            from tensorflow.lite.python.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError:
            raise DeblurError(
                "running .tflite models needs the LiteRT interpreter: pip install ai-edge-litert"
            ) from None
    return Interpreter


def litert_version() -> str:
    """The interpreter package and version, for reports (latency depends on it)."""
    try:
        from importlib.metadata import version

        return f"ai-edge-litert {version('ai-edge-litert')}"
    except Exception:  # noqa: BLE001 - metadata is best effort
        return "tflite interpreter (version unknown)"


class TFLiteRunner:
    """A `.tflite` file written by `deblur_tf.export`, callable on [0, 1] float images of any size.

    `num_threads` defaults to all cores (`os.cpu_count()`); latency figures always state it.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DeblurError(f"{self.path}: no such .tflite file")
        head = self.path.read_bytes()[:8]
        if len(head) < 8 or head[4:8] != TFLITE_MAGIC:
            raise DeblurError(
                f"{self.path}: not a TFLite model (no 'TFL3' identifier); re-export it with `deblur-tf export`"
            )
        self.num_threads = int(num_threads or os.cpu_count() or 1)
        Interpreter = _interpreter_class()
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=self.num_threads)
            signatures = self.interpreter.get_signature_list()
        except (ValueError, RuntimeError) as exc:
            raise DeblurError(f"{self.path}: LiteRT cannot load this model ({exc}); re-export it") from exc
        if SIGNATURE not in signatures:
            raise DeblurError(
                f"{self.path}: no '{SIGNATURE}' signature (found {sorted(signatures)}); "
                "this file was not written by `deblur-tf export`"
            )
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        inputs, outputs = self.runner.get_input_details(), self.runner.get_output_details()
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise DeblurError(
                f"{self.path}: expected input '{INPUT_NAME}' and output '{OUTPUT_NAME}', found "
                f"{sorted(inputs)} -> {sorted(outputs)}; this file was not written by `deblur-tf export`"
            )
        self._in, self._out = inputs[INPUT_NAME], outputs[OUTPUT_NAME]
        shape = [int(s) for s in self._in["shape"]]
        if len(shape) != 4 or shape[3] != 3:
            raise DeblurError(f"{self.path}: input shape {shape} is not (1, H, W, 3)")
        self.input_size: tuple[int, int] = (shape[1], shape[2])
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])

    @property
    def io_description(self) -> str:
        if self.input_dtype == np.uint8:
            return "uint8 pixels [0, 255]"
        return "float32 [0, 1]"

    def _quantize(self, img01: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.float32:
            return img01.astype(np.float32, copy=False)
        scale, zero = self._in["quantization"]
        info = np.iinfo(self.input_dtype)
        q = np.round(img01 / scale + zero)
        return np.clip(q, info.min, info.max).astype(self.input_dtype)

    def _dequantize(self, out: np.ndarray) -> np.ndarray:
        if self.output_dtype == np.float32:
            return out
        scale, zero = self._out["quantization"]
        return (out.astype(np.float32) - np.float32(zero)) * np.float32(scale)

    def run_exact(self, img01: np.ndarray) -> np.ndarray:
        """One (H, W, 3) image of exactly the file's input size, [0, 1] in and out."""
        if img01.shape != (*self.input_size, 3):
            raise DeblurError(
                f"{self.path}: expects a {self.input_size[0]}x{self.input_size[1]} image, got {img01.shape[:2]}"
            )
        out = self.runner(**{INPUT_NAME: self._quantize(img01[None])})[OUTPUT_NAME]
        return np.clip(self._dequantize(out)[0], 0.0, 1.0)

    def __call__(self, img01: np.ndarray, overlap: int = 32) -> np.ndarray:
        """An (H, W, 3) image of any size, [0, 1] in and out.

        The file has a fixed input size, so a larger image is cut into tiles of exactly that size by the
        project's tiler (`deblur_tf.inference.Deblurrer(fixed_tile=True)`, overlap at most a quarter tile), and
        a smaller one is mirror-padded up to the tile and cropped back.
        """
        if img01.ndim != 3 or img01.shape[2] != 3:
            raise DeblurError(f"expected an (H, W, 3) image, got shape {img01.shape}")
        th, tw = self.input_size
        h, w = img01.shape[:2]
        ph, pw = max(0, th - h), max(0, tw - w)
        if ph or pw:
            img01 = np.pad(img01, ((0, ph), (0, pw), (0, 0)), mode="symmetric")
        if img01.shape[:2] == (th, tw):
            return self.run_exact(img01)[:h, :w]
        tiler = Deblurrer(self._predict_exact, multiple=1, tile=(th, tw), overlap=min(overlap, th // 4, tw // 4),
                          batch_size=1, fixed_tile=True)
        return tiler(img01)[:h, :w]

    def _predict_exact(self, batch: np.ndarray) -> np.ndarray:
        """`run_exact` as a Deblurrer predict function: NHWC [-1, 1] tiles of the file's size."""
        return np.stack([self.run_exact((b + 1.0) * 0.5) * 2.0 - 1.0 for b in batch]).astype(np.float32)


def load_tflite(path: str | os.PathLike, num_threads: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The zoo loader for `.tflite` files: `predict(batch)` with batch NHWC in [-1, 1] -> NHWC in [-1, 1].

    The returned function carries `.runner` (the `TFLiteRunner`) and `.tile_size` (the file's fixed
    (H, W)), so a tiling caller (`deblur-tf deblur`) cuts tiles the file runs without tiling again.
    """
    runner = TFLiteRunner(path, num_threads=num_threads)

    def predict(batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        if batch.ndim == 3:
            batch = batch[None]
        return np.stack([runner((b + 1.0) * 0.5) * 2.0 - 1.0 for b in batch]).astype(np.float32)

    predict.runner = runner  # type: ignore[attr-defined]
    predict.tile_size = runner.input_size  # type: ignore[attr-defined]
    return predict


def zoo_loader(path: Path):
    """`deblur_tf.zoo.LOADERS[".tflite"]`: a `.tflite` file as a `LoadedModel` (any image size, tiled)."""
    predict = load_tflite(path)
    runner: TFLiteRunner = predict.runner  # type: ignore[attr-defined]
    return LoadedModel(name=Path(path).stem, predict=predict, input_multiple=1, kind="tflite", source=str(path),
                       info={"input_size": list(runner.input_size), "io": runner.io_description,
                             "threads": runner.num_threads})
