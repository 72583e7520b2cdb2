"""Pipeline TOML loading: every shipped pipeline loads, typos are errors naming key and file, overrides work."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from deblur_tf.config import (
    PIPELINES_DIR,
    ConfigError,
    dumps_toml,
    from_dict,
    load_pipeline,
    parse_value,
    resolve_path,
)
from deblur_tf.errors import DeblurError

SHIPPED = tuple(sorted(p.stem for p in PIPELINES_DIR.glob("*.toml")))  # every pipeline of the checkout


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_pipelines_load_by_name_and_path(name):
    by_name = load_pipeline(name)
    by_path = load_pipeline(PIPELINES_DIR / f"{name}.toml")
    assert by_name.to_dict() == by_path.to_dict()
    assert by_name.name == name


def test_paper_pipeline_has_the_papers_numbers():
    cfg = load_pipeline("deblurgan-paper")
    assert cfg.generator.kind == "resnet" and cfg.generator.kwargs["convs_per_block"] == 2
    assert cfg.optim.lr == 1e-4 and cfg.optim.beta_1 == 0.5 and cfg.optim.n_critic == 5
    assert cfg.loss.gp_weight == 10.0 and cfg.loss.perceptual_weight == 100.0
    assert cfg.loss.perceptual_layers == ["block3_conv3"]
    assert cfg.data.crop == 256 and cfg.data.kind == "paired"
    assert cfg.optim.constant_steps == cfg.optim.decay_steps == 150 * 2103


def test_resnet_gan_stage_continues_the_content_stage():
    """`deblurgan-gan` must load what `deblurgan-content` trains (same network) and see the same blur, or its
    `train.init_from` fails or the GAN fine-tunes on other data than the content stage fitted."""
    content, gan = load_pipeline("deblurgan-content"), load_pipeline("deblurgan-gan")
    assert gan.generator.kind == content.generator.kind == "resnet"
    assert gan.generator.kwargs == content.generator.kwargs
    assert dataclasses.asdict(gan.data) == dataclasses.asdict(content.data)
    assert content.loss.adversarial == "none"
    assert gan.loss.adversarial == "wgan-gp" and gan.optim.n_critic == 5 and gan.loss.gp_weight == 10.0
    # the paper's 1 : 100 between the adversarial and the perceptual term, with the content terms kept
    assert gan.loss.perceptual_weight == pytest.approx(100 * gan.loss.adversarial_weight)
    assert gan.loss.perceptual_layers == ["block3_conv3"]
    assert gan.loss.charbonnier_weight == content.loss.charbonnier_weight
    assert gan.loss.fft_weight == content.loss.fft_weight


def test_unknown_key_names_key_and_file(tmp_path):
    p = tmp_path / "typo.toml"
    p.write_text('[loss]\nperceptual_wieght = 10.0\n')
    with pytest.raises(DeblurError, match=r"loss\.perceptual_wieght") as info:
        load_pipeline(p)
    assert str(p) in str(info.value)


def test_unknown_section_and_generator_key(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[optimizer]\nlr = 1.0\n")
    with pytest.raises(ConfigError, match="optimizer"):
        load_pipeline(p)
    p.write_text('[generator]\nkind = "resnet"\nn_blocs = 3\n')
    with pytest.raises(ConfigError, match=r"generator\.n_blocs"):
        load_pipeline(p)
    p.write_text('[generator]\nkind = "unet"\n')
    with pytest.raises(ConfigError, match="unet"):
        load_pipeline(p)


def test_wrong_types_and_values_are_errors(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[train]\nsteps = "many"\n')
    with pytest.raises(ConfigError, match=r"train\.steps"):
        load_pipeline(p)
    p.write_text('[loss]\nadversarial = "hinge"\n')
    with pytest.raises(ConfigError, match=r"loss\.adversarial"):
        load_pipeline(p)
    p.write_text("[optim]\nn_critic = 0\n")
    with pytest.raises(ConfigError, match=r"optim\.n_critic"):
        load_pipeline(p)
    p.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_pipeline(p)


def test_overrides(tmp_path):
    cfg = load_pipeline(
        "smoke",
        ["train.steps=12", "optim.lr=3e-4", "data.train_dir=/data/sharp", "data.noise_std=[0.0, 0.02]",
         "generator.ngf=16", "data.augment=false", "name=renamed"],
    )
    assert cfg.train.steps == 12 and cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.data.train_dir == "/data/sharp" and cfg.data.noise_std == [0.0, 0.02]
    assert cfg.generator.kwargs["ngf"] == 16 and cfg.data.augment is False and cfg.name == "renamed"
    with pytest.raises(ConfigError, match="section.key=value"):
        load_pipeline("smoke", ["trainsteps"])
    with pytest.raises(ConfigError, match=r"train\.stepz"):
        load_pipeline("smoke", ["train.stepz=3"])


def test_parse_value():
    assert parse_value("3") == 3 and parse_value("1e-4") == 1e-4 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2] and parse_value("/abs/path") == "/abs/path"
    assert parse_value('"quoted"') == "quoted"


@pytest.mark.parametrize("name", SHIPPED)
def test_resolved_config_round_trips_through_toml(name):
    cfg = load_pipeline(name)
    again = from_dict(tomllib.loads(cfg.to_toml()), "roundtrip")
    assert again.to_dict() == cfg.to_dict()


def test_mobile_tuple_arguments_round_trip(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('[generator]\nkind = "mobile"\nwidths = [8, 12, 16, 24]\n')
    cfg = load_pipeline(p)
    assert cfg.generator.kwargs["widths"] == (8, 12, 16, 24)
    assert from_dict(tomllib.loads(cfg.to_toml())).generator.kwargs == cfg.generator.kwargs


def test_dumps_toml_escapes_strings():
    text = dumps_toml({"name": 'a "quoted" \\ name', "t": {"x": 1.5, "flag": False, "l": ["a", "b"]}})
    assert tomllib.loads(text) == {"name": 'a "quoted" \\ name', "t": {"x": 1.5, "flag": False, "l": ["a", "b"]}}


def test_paths_relative_to_repo_and_shared_fallback(tmp_path, monkeypatch, shared):
    root = PIPELINES_DIR.parent
    assert resolve_path("pipelines") == (root / "pipelines").resolve()
    assert resolve_path(str(tmp_path)) == tmp_path
    assert resolve_path("../shared/weights").is_dir()
    # the shared folder moved (e.g. inside the checkout on another machine): DEBLUR_SHARED is honoured
    fake = tmp_path / "elsewhere"
    (fake / "data").mkdir(parents=True)
    monkeypatch.setattr("deblur_tf.config.ROOT", tmp_path / "repo")
    monkeypatch.setenv("DEBLUR_SHARED", str(fake))
    assert resolve_path("../shared/data") == (fake / "data").resolve()


def test_unknown_pipeline_name_lists_available():
    with pytest.raises(ConfigError, match="smoke"):
        load_pipeline("no-such-pipeline")

