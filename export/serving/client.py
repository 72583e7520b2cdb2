#!/usr/bin/env python
"""A small client for the DeblurGAN model behind TF Serving, over REST (stdlib only) or gRPC.

The SavedModel written by `deblur-tf export` has two signatures:

- `serving_default`: {"images": float32 [N, H, W, 3] in [0, 1]} -> {"restored": same shape, [0, 1]};
- `deblur_bytes`:    {"image_bytes": string [N] (JPEG/PNG files)} -> {"png_bytes": string [N] (PNG files)}.

Usage (server started as in export/serving/README.md):

    python export/serving/client.py blurry.jpg restored.png                      # REST, deblur_bytes
    python export/serving/client.py blurry.jpg restored.png --signature serving_default
    python export/serving/client.py blurry.jpg restored.png --grpc localhost:8500  # needs tensorflow-serving-api

REST needs nothing beyond the standard library (plus numpy and OpenCV for `serving_default`); gRPC needs
`pip install tensorflow-serving-api` (which pulls in TensorFlow), imported only when used. The payload
builders are plain functions so the tests feed exactly these requests to the SavedModel.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

MODEL = "deblurgan"
BYTES_SIGNATURE = "deblur_bytes"


# ------------------------------------------------------------------------------------- REST payloads


def rest_bytes_request(files: list[bytes]) -> dict:
    """`deblur_bytes` request, row format: binary values travel as {"b64": ...} (TF Serving REST API)."""
    return {"signature_name": BYTES_SIGNATURE,
            "instances": [{"b64": base64.b64encode(data).decode("ascii")} for data in files]}


def rest_bytes_response(reply: dict) -> list[bytes]:
    """PNG files from a `deblur_bytes` reply (outputs named *_bytes come back base64-encoded)."""
    preds = reply["predictions"]
    out = []
    for p in preds:
        value = p["png_bytes"] if isinstance(p, dict) and "png_bytes" in p else p
        out.append(base64.b64decode(value["b64"]))
    return out


def rest_images_request(images01) -> dict:
    """`serving_default` request: float images [N, H, W, 3] in [0, 1] as nested lists (same size in a batch)."""
    import numpy as np

    arr = np.asarray(images01, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    return {"signature_name": "serving_default", "instances": arr.tolist()}


def rest_images_response(reply: dict):
    import numpy as np

    return np.asarray(reply["predictions"], dtype=np.float32)


def post_json(url: str, payload: dict, timeout: float = 300.0) -> dict:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"error: {url}: HTTP {exc.code}: {exc.read().decode(errors='replace')[:500]}") from exc
    except urllib.error.URLError as exc:
        raise SystemExit(f"error: cannot reach {url} ({exc.reason}); is TF Serving running? "
                         "(see export/serving/README.md)") from exc


def rest_url(host: str, model: str = MODEL, version: int | None = None) -> str:
    base = host if host.startswith("http") else f"http://{host}"
    ver = f"/versions/{version}" if version else ""
    return f"{base}/v1/models/{model}{ver}:predict"


# ------------------------------------------------------------------------------------------------ gRPC


def _grpc_modules():
    try:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as exc:
        raise SystemExit(
            f"error: gRPC needs tensorflow-serving-api ({exc}); `pip install tensorflow-serving-api` "
            "or use REST (drop --grpc)"
        ) from exc
    return grpc, tf, predict_pb2, prediction_service_pb2_grpc


def grpc_predict(target: str, signature: str, inputs: dict, model: str = MODEL, timeout: float = 300.0) -> dict:
    """Call `signature` over gRPC with {input name: numpy array}; returns {output name: numpy array}."""
    grpc, tf, predict_pb2, service = _grpc_modules()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 256 << 20),
                                                     ("grpc.max_send_message_length", 256 << 20)])
    reply = service.PredictionServiceStub(channel).Predict(request, timeout)
    return {k: tf.make_ndarray(v) for k, v in reply.outputs.items()}


# ------------------------------------------------------------------------------------------------ main


def _read_image01(path: Path):
    import cv2
    import numpy as np

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"error: {path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _write_image01(path: Path, img01) -> None:
    import cv2
    import numpy as np

    u8 = np.round(np.clip(img01, 0, 1) * 255).astype(np.uint8)
    if not cv2.imwrite(str(path), cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"error: cannot write {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", type=Path, help="blurry image (JPEG/PNG)")
    ap.add_argument("output", type=Path, help="where to write the restored image")
    ap.add_argument("--signature", choices=[BYTES_SIGNATURE, "serving_default"], default=BYTES_SIGNATURE)
    ap.add_argument("--rest", default="localhost:8501", help="REST host:port (default %(default)s)")
    ap.add_argument("--grpc", default=None, help="gRPC host:port, e.g. localhost:8500 (instead of REST)")
    ap.add_argument("--model", default=MODEL)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    if args.output.exists() and not args.overwrite:
        raise SystemExit(f"error: {args.output} exists; pass --overwrite to replace it")
    if not args.input.is_file():
        raise SystemExit(f"error: {args.input}: no such file")
    if args.signature == BYTES_SIGNATURE:
        data = args.input.read_bytes()
        if args.grpc:
            import numpy as np

            png = grpc_predict(args.grpc, BYTES_SIGNATURE, {"image_bytes": np.array([data], dtype=object)},
                               args.model)["png_bytes"][0]
        else:
            png = rest_bytes_response(post_json(rest_url(args.rest, args.model), rest_bytes_request([data])))[0]
        if args.output.suffix.lower() == ".png":
            args.output.write_bytes(png)
        else:  # re-encode to the requested type
            import cv2
            import numpy as np

            img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
            cv2.imwrite(str(args.output), img)
    else:
        img = _read_image01(args.input)
        if args.grpc:
            out = grpc_predict(args.grpc, "serving_default", {"images": img[None]}, args.model)["restored"][0]
        else:
            out = rest_images_response(post_json(rest_url(args.rest, args.model), rest_images_request(img)))[0]
        _write_image01(args.output, out)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
