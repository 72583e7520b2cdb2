"""Shipped models and loading a deblurring model from whatever a user points at.

A shipped model is a folder `deblur_tf/weights/<name>/` holding

- `config.json`: {"name", "kind", "kwargs" (for `deblur_tf.models.build_generator`), "input_multiple",
  "card" (its model card, e.g. "MODEL_CARD.md"), "default" (true for the one `deblur` uses without --model),
  and optionally "ensemble" (1, 2 or 4: the mirrored copies `deblur` averages unless --ensemble says otherwise;
  absent = 1)};
- `weights.npz`: float16 arrays "w000", "w001", ... in `model.get_weights()` order (half the size of float32;
  deblurring output changes by far less than one 8-bit level), cast back to float32 on load.

`load_model(name_or_path)` also takes a `.keras` file, a `.weights.h5` with a sibling `generator.json`
({"kind", "kwargs"}), a training run folder (`generator.json` + `generator.weights.h5`), and, through the
`LOADERS` table, exported artifacts (`.tflite`, SavedModel folders) once the export module registers them.
Every loader returns a `LoadedModel` whose `predict(batch_nhwc_in_minus1_1)` returns the same shape.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deblur_tf.errors import DeblurError
from deblur_tf.inference import ENSEMBLE_SIZES, keras_predict_fn
from deblur_tf.io import load_npz

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "weights.npz"


@dataclass
class LoadedModel:
    """A ready-to-run deblurring model, whatever it was loaded from."""

    name: str
    predict: Callable[[np.ndarray], np.ndarray]  # (N,H,W,3) float32 in [-1,1] -> same
    input_multiple: int = 4
    kind: str = "unknown"
    source: str = ""
    params: int | None = None
    keras_model: object | None = None
    info: dict = field(default_factory=dict)
    ensemble: int = 1  # mirrored copies `deblur` averages by default (a shipped model's config.json "ensemble")


def build_generator(kind: str, **kwargs):
    """Build an untrained generator of `kind` (the models package decides what kinds exist)."""
    from deblur_tf.models import build_generator as _build  # imports Keras: deferred until a model is built

    try:
        return _build(kind, **kwargs)
    except (ValueError, KeyError, TypeError) as exc:
        raise DeblurError(f"cannot build a {kind!r} generator with {kwargs}: {exc}") from exc


# ----------------------------------------------------------------------------------------------- shipped models


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DeblurError(f"{path}: unreadable model description ({exc}); restore or re-export it") from exc


def _zoo_dirs(root: Path | None = None) -> list[Path]:
    root = WEIGHTS_DIR if root is None else Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file())


def list_models(root: Path | None = None) -> list[dict]:
    """The shipped models: their config.json plus "path" and "params" (counted from weights.npz, cheap)."""
    out = []
    for d in _zoo_dirs(root):
        cfg = _read_json(d / CONFIG_NAME)
        cfg.setdefault("name", d.name)
        cfg["path"] = str(d)
        try:
            with np.load(d / WEIGHTS_NAME) as z:
                cfg["params"] = int(sum(z[k].size for k in z.files))
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # a broken file is reported when loaded
            cfg["params"] = None
        out.append(cfg)
    return out


def default_model(root: Path | None = None) -> str | None:
    """Name of the shipped model marked default (else the only one, else None)."""
    models = list_models(root)
    marked = [m["name"] for m in models if m.get("default")]
    if marked:
        return marked[0]
    return models[0]["name"] if len(models) == 1 else None


def save_shipped(model, out_dir: str | os.PathLike, name: str, kind: str, kwargs: dict | None = None,
                 input_multiple: int | None = None, default: bool = False, card: str = "MODEL_CARD.md",
                 ensemble: int = 1) -> Path:
    """Write a model in the shipped layout (the lead uses it to package trained weights).

    `input_multiple=None` records what the network needs (its `CheckDivisible` layers): a packed NAFNet was
    written with 4 where it needs 16, and the config.json then had to be mended by hand before shipping."""
    from deblur_tf.portable import model_multiple  # imports Keras: only when a model is saved

    if input_multiple is None:
        input_multiple = model_multiple(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{i:03d}": np.asarray(w).astype(np.float16) for i, w in enumerate(model.get_weights())}
    np.savez_compressed(out / WEIGHTS_NAME, **arrays)
    cfg = {"name": name, "kind": kind, "kwargs": kwargs or {}, "input_multiple": int(input_multiple),
           "card": card, "default": bool(default)}
    if ensemble != 1:
        cfg["ensemble"] = _ensemble_of(out / CONFIG_NAME, {"ensemble": ensemble})
    (out / CONFIG_NAME).write_text(json.dumps(cfg, indent=2) + "\n")
    return out


def _ensemble_of(path: Path, cfg: dict) -> int:
    """The config's "ensemble" (absent: 1), refused with the file named when it is not a size `deblur` runs."""
    n = cfg.get("ensemble", 1)
    if isinstance(n, bool) or n not in ENSEMBLE_SIZES:
        raise DeblurError(f"{path}: \"ensemble\": {json.dumps(n)} is not one of "
                          f"{', '.join(map(str, ENSEMBLE_SIZES))}; fix it or remove the key (1 mirrored copy)")
    return int(n)


def _keras_loaded(model, name: str, kind: str, source: Path, multiple: int, info: dict | None = None):
    from deblur_tf.portable import model_multiple  # imports Keras: deferred until a model is loaded

    multiple = model_multiple(model, multiple)
    return LoadedModel(name=name, predict=keras_predict_fn(model), input_multiple=int(multiple), kind=kind,
                       source=str(source), params=int(model.count_params()), keras_model=model, info=info or {})


def load_zoo_dir(path: Path) -> LoadedModel:
    cfg = _read_json(path / CONFIG_NAME)
    kind = cfg.get("kind")
    if not kind:
        raise DeblurError(f"{path / CONFIG_NAME}: no \"kind\"; it must name the generator to build")
    ensemble = _ensemble_of(path / CONFIG_NAME, cfg)  # checked before the weights are read
    model = build_generator(kind, **cfg.get("kwargs", {}))
    arrays = load_npz(path / WEIGHTS_NAME, "model weight file", "restore the model folder or re-install the package")
    weights = [arrays[k].astype(np.float32) for k in sorted(k for k in arrays if k.startswith("w"))]
    expected = [tuple(w.shape) for w in model.get_weights()]
    got = [tuple(w.shape) for w in weights]
    if expected != got:
        raise DeblurError(f"{path / WEIGHTS_NAME}: {len(got)} arrays do not match the {kind!r} generator "
                          f"({len(expected)} arrays); the config and weights are from different models")
    model.set_weights(weights)
    loaded = _keras_loaded(model, cfg.get("name", path.name), kind, path, cfg.get("input_multiple", 4), cfg)
    loaded.ensemble = ensemble
    return loaded


# ------------------------------------------------------------------------------------------ user-given files


def _import_custom_layers() -> None:
    """Register the project's serializable layers before deserialising a .keras file."""
    import deblur_tf.models  # noqa: F401  (imports Keras: deferred until a .keras file is read)


def load_keras_file(path: Path) -> LoadedModel:
    import keras

    _import_custom_layers()
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # keras raises many types for a bad archive
        raise DeblurError(f"{path}: not a loadable .keras model ({type(exc).__name__}: {exc})") from exc
    return _keras_loaded(model, path.stem, "keras", path, 4)


def load_weights_strict(model, path: str | os.PathLike) -> None:
    """`model.load_weights(path)` that fails when the file does not fit the model.

    Keras loads the layers that match and only *warns* about the rest ("Skipping ...", "... retain their
    freshly-initialized weights"): a model built with other settings would then run half-random. Here that
    warning is an error (ValueError), and the model's previous weights are put back.
    """
    import warnings

    before = model.get_weights()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(path)
        skipped = [str(w.message) for w in caught
                   if "freshly-initialized" in str(w.message) or str(w.message).startswith("Skipping")]
        if skipped:
            raise ValueError(skipped[0])
    except Exception as exc:
        model.set_weights(before)
        short = short_weights_error(exc)
        if short != str(exc):
            raise ValueError(short) from exc
        raise


def short_weights_error(exc: BaseException) -> str:
    """One line out of Keras's load error, which dumps both tensors in full (hundreds of lines).

    Keras says "A total of N objects could not be loaded. Example error message for object <Conv2D
    name=stem_conv ...>: ... variable.shape=(7, 7, 3, 16), Received: value.shape=(7, 7, 3, 8). Target
    variable: <Variable path=stem_conv/kernel, ..., value=[[...]]>"; this keeps the variable and both shapes.
    """
    import re

    text = str(exc)
    want = re.search(r"variable\.shape=(\([^)]*\))", text)
    got = re.search(r"value\.shape=(\([^)]*\))", text)
    if not (want and got):
        first = text.splitlines()[0] if text else type(exc).__name__
        return first if len(first) <= 300 else first[:300] + " ..."
    var = re.search(r"Variable path=([^,>]+)", text)
    total = re.search(r"A total of (\d+) objects", text)
    where = f"{var.group(1)}: " if var else ""
    more = f" ({total.group(1)} layers do not fit in all)" if total else ""
    return f"{where}the file holds shape {got.group(1)}, the model expects {want.group(1)}{more}"


def _load_weights_with_description(weights: Path, description: Path) -> LoadedModel:
    if not description.is_file():
        raise DeblurError(f"{weights}: a .weights.h5 file needs {description.name} beside it "
                          '({"kind": ..., "kwargs": {...}}) to know which generator to build')
    cfg = _read_json(description)
    if "kind" not in cfg:
        raise DeblurError(f"{description}: no \"kind\"; it must name the generator to build")
    model = build_generator(cfg["kind"], **cfg.get("kwargs", {}))
    try:
        load_weights_strict(model, weights)
    except Exception as exc:
        raise DeblurError(f"{weights}: weights do not fit the {cfg['kind']!r} generator described in "
                          f"{description} ({type(exc).__name__}: {exc})") from exc
    name = weights.parent.name if weights.name == "generator.weights.h5" else weights.name.removesuffix(".weights.h5")
    return _keras_loaded(model, name, cfg["kind"], weights, cfg.get("input_multiple", 4), cfg)


def load_weights_file(path: Path) -> LoadedModel:
    return _load_weights_with_description(path, path.parent / "generator.json")


def load_run_dir(path: Path) -> LoadedModel:
    return _load_weights_with_description(path / "generator.weights.h5", path / "generator.json")


def _lazy(module: str, what: str) -> Callable[[Path], LoadedModel]:
    """A loader living in a TensorFlow-only module (export, LiteRT), imported only when such a file is given."""

    def loader(path: Path) -> LoadedModel:
        import importlib

        try:
            fn = importlib.import_module(module).zoo_loader
        except (ImportError, AttributeError) as exc:
            raise DeblurError(f"{path}: {what} models need {module} ({exc}); pass a .keras file, a .weights.h5 "
                              "with generator.json, or a training run folder instead") from exc
        return fn(path)

    return loader


# ---------------------------------------------------------------------------------------------- critics
# A critic stored with a model (shipped models, exports, runs): the critic of training, for `deblur-tf explain`
# and for fine-tuning (`train.init_from`).
CRITIC_JSON = "critic.json"
CRITIC_FILES = ("critic.keras", "critic.weights.h5")


def load_critic(path: str | Path):
    """A critic from a `.keras` file, or a `.weights.h5` with `critic.json` ({"kwargs": {...}}) beside it."""
    path = Path(path)
    if not path.is_file():
        raise DeblurError(f"--critic {path}: no such file")
    # Keras and the models (which register the custom layers for .keras files): deferred until a critic is read
    import keras

    import deblur_tf.models as models

    if path.name.endswith(".keras"):
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001 - keras raises many types for a bad archive
            raise DeblurError(f"--critic {path}: not a loadable .keras model ({type(exc).__name__}: {exc})") from exc
    if path.name.endswith(".weights.h5"):
        description = path.parent / CRITIC_JSON
        if not description.is_file():
            raise DeblurError(f"--critic {path}: a .weights.h5 critic needs {CRITIC_JSON} beside it "
                              '({"kwargs": {"ndf": 64, "n_layers": 3}}) to know which critic to build')
        try:
            cfg = json.loads(description.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DeblurError(f"{description}: unreadable critic description ({exc})") from exc
        try:
            critic = models.build_critic(**cfg.get("kwargs", {}))
        except TypeError as exc:
            raise DeblurError(f"{description}: bad critic kwargs {cfg.get('kwargs')} ({exc})") from exc
        try:
            load_weights_strict(critic, path)
        except Exception as exc:  # noqa: BLE001
            raise DeblurError(f"--critic {path}: weights do not fit the critic described in {description} "
                              f"({type(exc).__name__}: {exc})") from exc
        return critic
    raise DeblurError(f"--critic {path}: expected a .keras file or a .weights.h5 with {CRITIC_JSON} beside it")


def find_critic(model_source: str | Path | None) -> Path | None:
    """A critic stored with a model: `critic.keras` or `critic.weights.h5` (+ critic.json) in its folder.

    `model_source` is the model's folder (shipped model, training run) or file; None when there is none.
    """
    if not model_source:
        return None
    src = Path(model_source)
    folder = src if src.is_dir() else src.parent
    for name in CRITIC_FILES:
        candidate = folder / name
        if candidate.is_file() and (name.endswith(".keras") or (folder / CRITIC_JSON).is_file()):
            return candidate
    return None



# Loader per artifact type. Keys: file suffixes (".keras", ".weights.h5", ".tflite") and folder kinds
# ("zoo", "run", "saved_model"); each loader takes a Path and returns a LoadedModel.
LOADERS: dict[str, Callable[[Path], LoadedModel]] = {
    "zoo": load_zoo_dir,
    "run": load_run_dir,
    ".keras": load_keras_file,
    ".weights.h5": load_weights_file,
    ".tflite": _lazy("deblur_tf.tflite", "TFLite"),
    "saved_model": _lazy("deblur_tf.export", "SavedModel"),
}


def _artifact_key(path: Path) -> str | None:
    if path.is_dir():
        if (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file():
            return "zoo"
        if (path / "generator.json").is_file() and (path / "generator.weights.h5").is_file():
            return "run"
        if (path / "saved_model.pb").is_file():
            return "saved_model"
        if any((d / "saved_model.pb").is_file() for d in path.iterdir() if d.is_dir() and d.name.isdigit()):
            return "saved_model"  # a TF Serving base folder: numbered versions inside
        return None
    name = path.name.lower()
    for suffix in sorted((k for k in LOADERS if k.startswith(".")), key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return None


def load_model(name_or_path: str | os.PathLike | None = None, root: Path | None = None) -> LoadedModel:
    """Load a shipped model by name (None: the default one) or a model file/folder by path."""
    shipped = {m["name"]: Path(m["path"]) for m in list_models(root)}
    if name_or_path is None:
        name = default_model(root)
        if name is None:
            raise DeblurError("no shipped model is installed (deblur_tf/weights/ is empty); pass --model with a "
                              ".keras file, a .weights.h5 + generator.json, or a training run folder")
        return load_zoo_dir(shipped[name])
    text = str(name_or_path)
    if text in shipped:
        return load_zoo_dir(shipped[text])
    path = Path(text).expanduser()
    if path.exists():
        key = _artifact_key(path)
        if key is None:
            raise DeblurError(
                f"{path}: not a model; expected a .keras file, a .weights.h5 with generator.json beside it, a "
                "training run folder (generator.json + generator.weights.h5), a shipped-model folder "
                "(config.json + weights.npz), a .tflite file or a SavedModel folder"
            )
        return LOADERS[key](path)
    available = ", ".join(sorted(shipped)) or "none installed"
    raise DeblurError(f"unknown model {text!r}: not a shipped model (available: {available}) and no such "
                      "file or folder; `deblur-tf models` lists the shipped models")
