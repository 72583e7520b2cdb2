"""`deblur-tf demo`: build the in-browser demo (export/web) around a `.tflite` model and serve it locally.

Why a plain static server: the page does all the work in the browser (LiteRT.js, WebAssembly + XNNPACK or
WebGPU), so what a person sees is exactly what a web or mobile integrator would get from the exported file;
any static host (GitHub Pages, nginx, `python -m http.server`) can serve the built folder. Python's
`http.server` needs to be told that `.wasm` is `application/wasm`, or browsers refuse the fast streaming
WebAssembly compile.

The model: `--tflite FILE` as is, or a `--model` (shipped name, path; default: the shipped default model)
converted here to a fixed-size `.tflite` (fp16 weights by default) with `deblur_tf.export.convert_tflite`. The page's JavaScript
comes from npm (`@litertjs/core`), installed with `npm ci` in export/web: the demo needs a source checkout
and Node.js.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import click

from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.zoo import load_model

WEB_DIR = Path(__file__).resolve().parents[2] / "export" / "web"
MIME_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".tflite": "application/octet-stream",
    ".css": "text/css",
    ".html": "text/html",
}


def web_dir() -> Path:
    """The page's sources; they are not part of the installed wheel, only of a source checkout."""
    if not (WEB_DIR / "build.mjs").is_file():
        raise DeblurError(f"{WEB_DIR}: the demo page's sources are missing; run `deblur-tf demo` from a source "
                          "checkout of deblur-tf (pip install -e .)")
    return WEB_DIR


def ensure_litertjs(web: Path, install: bool = True) -> None:
    """LiteRT.js comes from npm: install it (`npm ci`) the first time, or say how."""
    if (web / "node_modules" / "@litertjs" / "core" / "wasm").is_dir():
        return
    npm = shutil.which("npm")
    if not install or npm is None:
        raise DeblurError(f"LiteRT.js is not installed in {web}: install Node.js and run `npm ci` there")
    click.echo(f"installing LiteRT.js: npm ci in {web}", err=True)
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=web)
    if result.returncode != 0:
        raise DeblurError(f"`npm ci` in {web} failed (exit {result.returncode}); fix the npm error above and retry")


def _check_tflite(path: Path) -> Path:
    if not path.is_file():
        raise DeblurError(f"--tflite {path}: no such file")
    if path.read_bytes()[4:8] != b"TFL3":
        raise DeblurError(f"--tflite {path}: not a TFLite model; export one with `deblur-tf export --formats tflite-fp32`")
    return path


def model_to_tflite(model: str | None, size: tuple[int, int], out_dir: Path, fmt: str = "tflite-fp16"
                    ) -> tuple[Path, str]:
    """A fixed-size `.tflite` of `model` (shipped name or path; None: the default) in `out_dir`.

    fp16 weights by default: half the download (the paper's generator is 45 MB in fp32), float32 I/O and
    compute, and outputs within a fraction of an 8-bit level of fp32 (docs/DEPLOY.md).
    """
    if model is not None and str(model).lower().endswith(".tflite"):
        return _check_tflite(Path(model)), Path(model).stem
    loaded = load_model(model)
    if loaded.keras_model is None:
        raise DeblurError(f"--model {model}: {loaded.source} is not a Keras model; pass its .tflite with --tflite")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise DeblurError("converting a model to TFLite needs the TensorFlow backend: run with "
                          "KERAS_BACKEND=tensorflow, or pass an exported file with --tflite")
    from deblur_tf.export import convert_tflite, tflite_filename  # TensorFlow: only when converting

    path = out_dir / tflite_filename(loaded.name, size, fmt)
    click.echo(f"converting {loaded.name} to {path.name} ...", err=True)
    path.write_bytes(convert_tflite(loaded.keras_model, fmt, size))
    return path, loaded.name


def build_site(tflite: Path, out: Path, name: str | None = None, value_range: tuple[float, float] = (0.0, 1.0),
               overwrite: bool = False) -> Path:
    """Write the static demo (page, LiteRT.js, its WASM files, the model) into `out`; returns `out`.

    `value_range` is the model's float I/O range: (0, 1) for `deblur-tf export` files.
    """
    out = Path(out)
    replace = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if replace:
        if not overwrite:
            raise OutputExistsError(f"--out {out}: already exists; pass --overwrite to rebuild it, or another folder")
        if not (out / "model.json").is_file():
            raise DeblurError(f"--out {out}: not a demo build (no model.json); refusing to delete it, pick another folder")
    web = web_dir()
    node = shutil.which("node")
    if node is None:
        raise DeblurError("building the demo needs Node.js (`node` on PATH): install it, e.g. apt-get install nodejs")
    ensure_litertjs(web)
    if replace:
        shutil.rmtree(out)
    cmd = [node, str(web / "build.mjs"), "--model", str(tflite), "--out", str(out),
           f"--range={value_range[0]:g},{value_range[1]:g}"]
    if name:
        cmd += ["--name", name]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DeblurError(f"building the demo failed: {result.stderr.strip() or result.stdout.strip()}")
    return out


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a rebuilt model must not be served stale
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 8000, verbose: bool = False
                ) -> http.server.ThreadingHTTPServer:
    """A static file server for `directory` with the right MIME types (port 0: any free port)."""
    handler = functools.partial(_Handler, directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise DeblurError(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror}); pick another port or 0") from exc
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def _parse_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise DeblurError(f"--range {text!r}: expected LO,HI such as 0,1 or -1,1") from None
    if not hi > lo:
        raise DeblurError(f"--range {text!r}: HI must be larger than LO")
    return lo, hi


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DeblurError(f"--input-size {text!r}: expected HxW such as 256x256") from None
    if h < 16 or w < 16 or h % 4 or w % 4:
        raise DeblurError(f"--input-size {text!r}: both sides must be multiples of 4 and at least 16")
    return h, w


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model", default=None, metavar="NAME|PATH",
              help="Shipped model name or a model file/folder (default: the shipped default model); converted "
                   "to a fixed-size .tflite here (see --format, --input-size).")
@click.option("--tflite", "tflite", type=click.Path(path_type=Path), default=None,
              help="Serve this .tflite file as is (e.g. one written by `deblur-tf export`).")
@click.option("--input-size", default="256x256", show_default=True, metavar="HxW",
              help="Tile size of the converted model (with --model); the page tiles larger photos.")
@click.option("--format", "fmt", type=click.Choice(["tflite-fp16", "tflite-fp32"]), default="tflite-fp16",
              show_default=True, help="Weights of the converted model (with --model): fp16 halves the download.")
@click.option("--range", "value_range", default="0,1", show_default=True, metavar="LO,HI",
              help="Float value range of the model's input/output: 0,1 for `deblur-tf export` files, -1,1 for a "
                   "bare generator.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the built site (default: a temporary folder removed on exit).")
@click.option("--overwrite", is_flag=True, help="Rebuild into an existing --out folder.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on (0: any free port).")
@click.option("--build-only", is_flag=True, help="Build the site into --out and exit without serving.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default web browser.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def demo(model: str | None, tflite: Path | None, input_size: str, fmt: str, value_range: str, out: Path | None,
         overwrite: bool, host: str, port: int, build_only: bool, open_browser: bool, verbose: bool) -> None:
    """Build the in-browser deblurring demo and serve it on localhost.

    The page runs the model in the browser with LiteRT.js (WebGPU when available, else WebAssembly +
    XNNPACK), tiles photos larger than the model's input, and shows before/after with a slider and the time
    taken. Needs Node.js (to install LiteRT.js from npm on first use) and a source checkout.

    \b
    Examples:
      deblur-tf demo                                   # the shipped default model
      deblur-tf demo --tflite out/deblurgan_256x256_fp16.tflite --port 0
      deblur-tf demo --tflite m.tflite -o site --build-only   # copy site/ to any static host
    """
    if tflite is not None and model is not None:
        raise DeblurError("pass either --model or --tflite, not both")
    if build_only and out is None:
        raise DeblurError("--build-only needs --out DIR (where to leave the built site)")
    lo_hi = _parse_range(value_range)
    size = _parse_size(input_size)
    web_dir()
    tmp = tempfile.TemporaryDirectory(prefix="deblur-demo-")
    try:
        if tflite is not None:
            path, name = _check_tflite(tflite), tflite.stem
        else:
            path, name = model_to_tflite(model, size, Path(tmp.name), fmt)
        site = build_site(path, out if out is not None else Path(tmp.name) / "site", name, lo_hi, overwrite)
        click.echo(f"built the demo in {site}", err=True)
        if build_only:
            return
        server = make_server(site, host, port, verbose)
        url = f"http://{host}:{server.server_address[1]}/"
        click.echo(f"Serving the demo at {url}  (Ctrl+C to stop)")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            threading.Timer(0.5, webbrowser.open, args=(url,)).start()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("stopped", err=True)
        finally:
            server.server_close()
    finally:
        tmp.cleanup()
