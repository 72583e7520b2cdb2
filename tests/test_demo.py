"""`deblur-tf demo`: the static server's MIME types and the command's checks (no browser needed here;
the browser end-to-end test is scripts/browser_test.sh)."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from click.testing import CliRunner

from deblur_tf.cli import main
from deblur_tf.cli.demo import build_site, make_server
from deblur_tf.errors import DeblurError, OutputExistsError


def test_server_mime_types(tmp_path):
    """Browsers refuse streaming WebAssembly compilation unless .wasm is served as application/wasm."""
    for name in ("x.wasm", "a.js", "index.html", "m.tflite", "model.json"):
        (tmp_path / name).write_bytes(b"\0asm" if name.endswith(".wasm") else b"{}")
    server = make_server(tmp_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an HTTP proxy
        types = {}
        for name in ("x.wasm", "a.js", "index.html", "m.tflite", "model.json"):
            with opener.open(base + name, timeout=10) as resp:
                types[name] = resp.headers["Content-Type"]
                assert resp.read() == (tmp_path / name).read_bytes()
    finally:
        server.shutdown()
        server.server_close()
    assert types["x.wasm"] == "application/wasm"
    assert types["a.js"].startswith("text/javascript")
    assert types["index.html"].startswith("text/html")
    assert types["m.tflite"] == "application/octet-stream"


def test_build_site_refuses_to_clobber(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\x1c\0\0\0TFL3" + b"\0" * 64)
    out = tmp_path / "site"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        build_site(model, out)
    with pytest.raises(DeblurError, match="not a demo build"):
        build_site(model, out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


def test_cli_checks(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["demo", "--tflite", str(tmp_path / "missing.tflite"), "--build-only", "-o", str(tmp_path / "s")])
    assert res.exit_code == 2 and "no such file" in res.output
    not_tflite = tmp_path / "x.tflite"
    not_tflite.write_bytes(b"hello world, not a flatbuffer")
    res = runner.invoke(main, ["demo", "--tflite", str(not_tflite), "--build-only", "-o", str(tmp_path / "s")])
    assert res.exit_code == 2 and "not a TFLite model" in res.output
    res = runner.invoke(main, ["demo", "--tflite", str(not_tflite), "--build-only"])
    assert res.exit_code == 2 and "--out" in res.output
    res = runner.invoke(main, ["demo", "--tflite", str(not_tflite), "--range", "1,0"])
    assert res.exit_code == 2 and "--range" in res.output
