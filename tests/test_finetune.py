"""Fine-tuning: a new run starts from a trained generator (and its stored critic) instead of random weights."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.cli import main
from deblur_tf.errors import DeblurError


def _smoke(shared, *extra: str):
    from deblur_tf.config import load_pipeline

    val = shared / "data" / "sharp" / "val"
    return load_pipeline("smoke", [f"data.train_dir={val}", f"data.val_dir={val}",
                                   f"loss.vgg_weights={shared / 'weights' / 'vgg16_imagenet_block3.npz'}", *extra])


def _rows(run):
    with open(run / "log.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, shared):
    """A 3-step smoke run: its generator.weights.h5 + generator.json and a checkpoint holding the critic."""
    from deblur_tf.run import prepare_run_dir, run_training

    run = tmp_path_factory.mktemp("ft") / "source"
    prepare_run_dir(run, resume=False, overwrite=False)
    run_training(_smoke(shared, "train.steps=3"), run, progress=False, echo=lambda m: None, tensorboard=False)
    return run


def test_init_copies_generator_and_critic_of_a_run(trained_run, shared):

    from deblur_tf.run import build_gan, init_from_model
    from deblur_tf.zoo import load_model

    said = []
    gan = build_gan(_smoke(shared))
    before = [w.copy() for w in gan.generator.get_weights()]
    origin = init_from_model(gan, str(trained_run), said.append)
    expected = load_model(str(trained_run)).keras_model.get_weights()
    for got, want in zip(gan.generator.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(before, expected, strict=True))  # it did change them
    assert origin["critic"].endswith("step_00000003/critic.weights.h5")
    from deblur_tf.models import build_critic

    ref = build_critic(ndf=8, n_layers=2, norm="instance")
    ref.load_weights(origin["critic"])
    for got, want in zip(gan.critic.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert any("critic initialised" in m for m in said)


def test_fine_tune_run_starts_where_the_source_ended(trained_run, shared, tmp_path):
    """Same validation set (same seed and photos): the new run's step-0 PSNR is the source's last one."""
    out = tmp_path / "ft"
    val = shared / "data" / "sharp" / "val"
    res = CliRunner().invoke(main, ["train", "-p", "smoke", "-o", str(out), "--init-from", str(trained_run),
                                    "--no-progress", "--set", "train.steps=2",
                                    "--set", f"data.train_dir={val}", "--set", f"data.val_dir={val}",
                                    "--set", f"loss.vgg_weights={shared / 'weights' / 'vgg16_imagenet_block3.npz'}"])
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    source_last = [r for r in _rows(trained_run) if r["val_psnr"]][-1]
    assert rows[0]["step"] == "0" and rows[0]["d_loss"] == ""
    assert float(rows[0]["val_psnr"]) == pytest.approx(float(source_last["val_psnr"]), abs=1e-3)
    assert max(int(r["step"]) for r in rows) == 2
    saved = (out / "config.toml").read_text()
    assert f'init_from = {json.dumps(str(trained_run))}' in saved  # recorded with the run


def test_shipped_model_with_its_critic(shared):
    from deblur_tf.config import load_pipeline
    from deblur_tf.run import build_gan, init_from_model
    from deblur_tf.zoo import load_model

    val = shared / "data" / "sharp" / "val"
    cfg = load_pipeline("mobile-synthetic", [f"data.train_dir={val}", f"data.val_dir={val}",
                                             f"loss.vgg_weights={shared / 'weights' / 'vgg16_imagenet_block3.npz'}"])
    gan = build_gan(cfg)
    origin = init_from_model(gan, "deblurgan-mobile", lambda m: None)
    want = load_model("deblurgan-mobile").keras_model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(gan.generator.get_weights(), want, strict=True))
    assert origin["critic"].endswith("deblurgan-mobile/critic.weights.h5")


def test_mismatched_generator_is_an_error_naming_both(shared):
    from deblur_tf.run import build_gan, init_from_model

    gan = build_gan(_smoke(shared))  # a tiny ResNet
    with pytest.raises(DeblurError) as err:
        init_from_model(gan, "deblurgan-mobile", lambda m: None)
    msg = str(err.value)
    assert "mobile" in msg and "303,603" in msg and "32,739" in msg and "[generator]" in msg


@pytest.mark.parametrize("other_critic", ["critic.ndf=16", "critic.n_layers=3"])
def test_a_critic_that_does_not_fit_is_left_random_with_a_note(trained_run, shared, other_critic):
    from deblur_tf.run import build_gan, init_from_model

    said = []
    gan = build_gan(_smoke(shared, other_critic))
    before = [w.copy() for w in gan.critic.get_weights()]
    origin = init_from_model(gan, str(trained_run), said.append)
    assert origin["critic"] is None and any("does not fit" in m for m in said)
    assert all(np.array_equal(a, b) for a, b in zip(gan.critic.get_weights(), before, strict=True))


def test_weights_that_do_not_fit_their_description_are_refused(trained_run, tmp_path):
    import shutil

    from deblur_tf.zoo import load_model

    run = tmp_path / "edited"
    run.mkdir()
    shutil.copy(trained_run / "generator.weights.h5", run / "generator.weights.h5")
    spec = json.loads((trained_run / "generator.json").read_text())
    spec["kwargs"]["n_blocks"] = 2
    (run / "generator.json").write_text(json.dumps(spec))
    with pytest.raises(DeblurError, match="do not fit"):
        load_model(str(run))


def test_a_failed_load_leaves_the_model_as_it_was(tmp_path):
    """Keras loads the layers that fit before it raises (or only warns) about the rest: undo that."""
    from deblur_tf.models import build_critic
    from deblur_tf.zoo import load_weights_strict

    build_critic(ndf=8, n_layers=2).save_weights(tmp_path / "small.weights.h5")
    target = build_critic(ndf=8, n_layers=3)
    before = target.get_weights()
    with pytest.raises(ValueError):
        load_weights_strict(target, tmp_path / "small.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(target.get_weights(), before, strict=True))


def _naf(*extra: str):
    from deblur_tf.config import load_pipeline

    return load_pipeline("nafnet-content", ["generator.width=8", "train.precision=float32", *extra])


@pytest.fixture(scope="module")
def small_nafnet(tmp_path_factory):
    """A 2-level nafnet with random weights everywhere (its blocks' scales too, so no block is the identity)."""
    from deblur_tf.models import build_generator

    small = build_generator("nafnet", width=8, encoder_blocks=[1, 1], middle_blocks=1, decoder_blocks=[1, 1])
    rng = np.random.default_rng(1)
    small.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in small.get_weights()])
    path = tmp_path_factory.mktemp("grow") / "small.keras"
    small.save(path)
    return small, path


DEEPER = ("generator.encoder_blocks=[1, 2]", "generator.middle_blocks=3", "generator.decoder_blocks=[1, 1]")


def test_grow_copies_a_smaller_nafnet_and_keeps_its_output(small_nafnet):
    from deblur_tf.run import build_gan, init_from_model

    small, path = small_nafnet
    gan, said = build_gan(_naf(*DEEPER)), []
    assert gan.generator.count_params() > small.count_params()
    init_from_model(gan, str(path), said.append, grow=True)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 48, 32, 3)).astype("float32")
    want = np.asarray(small(x))
    assert np.abs(want - x).max() > 0.05  # the source is not the identity, so equal outputs mean a real copy
    np.testing.assert_allclose(np.asarray(gan.generator(x)), want, atol=1e-5)
    # enc1_1, mid_1, mid_2: 9 layers with weights each (2 norms, 5 convs, 2 scales)
    assert any("27 new layers start as the identity" in m for m in said), said
    by_name = {layer.name: layer for layer in gan.generator.layers}
    np.testing.assert_array_equal(by_name["enc1_0_pw1"].get_weights()[0], small.get_layer("enc1_0_pw1").get_weights()[0])


def test_grow_refuses_what_is_not_the_same_network_deeper(small_nafnet):
    from deblur_tf.run import build_gan, init_from_model

    _, path = small_nafnet
    with pytest.raises(DeblurError, match="not the pipeline's"):  # shapes differ and growing was not asked for
        init_from_model(build_gan(_naf(*DEEPER)), str(path), lambda m: None)
    with pytest.raises(DeblurError, match="layer 'intro'.*growing only adds blocks"):  # wider, not deeper
        init_from_model(build_gan(_naf(*DEEPER, "generator.width=16")), str(path), lambda m: None, grow=True)
    gan = build_gan(_naf(*DEEPER))
    beta = gan.generator.get_layer("mid_2_beta")
    beta.set_weights([np.ones_like(w) for w in beta.get_weights()])  # a new block that is not the identity
    with pytest.raises(DeblurError, match="do not start as the identity"):
        init_from_model(gan, str(path), lambda m: None, grow=True)


def _pack_split_unpack(run, tmp_path, part_bytes: int = 20_000):
    """What a PACK=1 chunk goes through: scripts/pack_chunk.py on the GPU machine, `split` into parts, then
    scripts/unpack_chunk.py here. Returns the candidate folder."""
    from script_module import load_script

    pc, uc = load_script("scripts/pack_chunk.py"), load_script("scripts/unpack_chunk.py")
    src = tmp_path / "dev" / run.name
    r = CliRunner().invoke(pc.main, [str(run), str(src / "packed")])
    assert r.exit_code == 0, r.output
    whole = (src / "packed" / "weights.npz").read_bytes()
    (src / "packed" / "weights.npz").unlink()
    for i, start in enumerate(range(0, len(whole), part_bytes)):
        (src / "packed" / f"weights.npz.part.a{chr(97 + i)}").write_bytes(whole[start:start + part_bytes])
    dest = tmp_path / "cand" / f"{run.name}b"
    r = CliRunner().invoke(uc.main, [str(src), str(dest)])
    assert r.exit_code == 0, r.output
    return src, dest


def test_a_packed_adversarial_chunk_brings_its_critic_back_for_the_next_run(trained_run, shared, tmp_path):
    """Until cycle 26 a GPU chunk returned the generator only, so each later run of the adversarial stage
    restarted against a random critic; now the last checkpoint's critic travels with it and init_from finds it."""
    import shutil

    from deblur_tf.models import build_critic
    from deblur_tf.run import build_gan, init_from_model

    run = tmp_path / "source"
    shutil.copytree(trained_run, run)
    older = run / "checkpoints" / "step_00000001"  # an earlier checkpoint with another critic: the last one travels
    older.mkdir()
    build_critic(ndf=8, n_layers=2, norm="instance").save_weights(older / "critic.weights.h5")
    (older / "state.json").write_text('{"step": 1}')
    src, dest = _pack_split_unpack(run, tmp_path)
    assert sorted(p.name for p in (src / "packed").iterdir() if not p.name.startswith("weights.npz.part")) == [
        "config.json", "critic.weights.h5"]
    assert json.loads((dest / "critic.json").read_text())["from_checkpoint"] == "step_00000003"
    assert "critic" not in json.loads((dest / "config.json").read_text())  # the model folder stays as shipped
    assert json.loads((dest / "unpacked.json").read_text())["critic"] == "step_00000003"

    said = []
    gan = build_gan(_smoke(shared))
    origin = init_from_model(gan, str(dest), said.append)
    assert origin["critic"] == str(dest / "critic.weights.h5"), said
    ref = build_critic(ndf=8, n_layers=2, norm="instance")
    ref.load_weights(trained_run / "checkpoints" / "step_00000003" / "critic.weights.h5")
    for got, want in zip(gan.critic.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_content_stage_chunk_leaves_its_untrained_critic_behind(trained_run, shared, tmp_path):
    import shutil

    run = tmp_path / "content"
    shutil.copytree(trained_run, run)
    cfg = (run / "config.toml").read_text()
    assert 'adversarial = "wgan-gp"' in cfg
    (run / "config.toml").write_text(cfg.replace('adversarial = "wgan-gp"', 'adversarial = "none"'))
    src, dest = _pack_split_unpack(run, tmp_path)
    assert not (src / "packed" / "critic.weights.h5").exists()
    assert not (dest / "critic.weights.h5").exists() and not (dest / "critic.json").exists()
    assert json.loads((dest / "unpacked.json").read_text())["critic"] is None


def test_half_a_critic_is_named_and_leaves_no_candidate(trained_run, tmp_path):
    from script_module import load_script

    uc = load_script("scripts/unpack_chunk.py")
    src, _ = _pack_split_unpack(trained_run, tmp_path)
    (src / "packed" / "critic.weights.h5").unlink()  # not fetched
    dest = tmp_path / "cand" / "half"
    r = CliRunner().invoke(uc.main, [str(src), str(dest)])
    assert r.exit_code != 0 and "half a critic" in r.output and "critic.weights.h5" in r.output, r.output
    assert not dest.exists()


def test_pack_names_a_missing_run_file_and_keeps_a_folder_that_is_not_empty(trained_run, tmp_path):
    import shutil

    from script_module import load_script

    pc = load_script("scripts/pack_chunk.py")
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "generator.weights.h5").unlink()
    r = CliRunner().invoke(pc.main, [str(run), str(tmp_path / "out")])
    assert r.exit_code != 0 and "generator.weights.h5" in r.output and not (tmp_path / "out").exists(), r.output
    used = tmp_path / "used"
    used.mkdir()
    (used / "config.json").write_text("mine")
    r = CliRunner().invoke(pc.main, [str(trained_run), str(used)])
    assert r.exit_code != 0 and "not empty" in r.output, r.output
    assert sorted(p.name for p in used.iterdir()) == ["config.json"] and (used / "config.json").read_text() == "mine"
