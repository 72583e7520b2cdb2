"""The training loop writes critic-saliency panels to TensorBoard, and a failing panel never stops training."""

import numpy as np

from deblur_tf.models import build_critic, build_generator
from deblur_tf.run import explain_to_tensorboard


class FakeTB:
    writer = object()

    def __init__(self):
        self.images_written = []

    def images(self, step, name, images01):
        self.images_written.append((step, name, images01))


class FakeVal:
    def batch(self, epoch, step):
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
        return x, x


class FakeGAN:
    def __init__(self, critic):
        self.generator = build_generator("resnet", ngf=4, n_blocks=1)
        self.critic = critic


def test_panel_goes_to_tensorboard():
    tb = FakeTB()
    explain_to_tensorboard(FakeGAN(build_critic(ndf=4, n_layers=2)), FakeVal(), tb, step=7)
    assert len(tb.images_written) == 1
    step, name, img = tb.images_written[0]
    assert step == 7 and name.startswith("explain/")
    assert img.ndim == 4 and img.shape[0] == 1 and img.shape[-1] == 3
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0


def test_a_broken_panel_switches_itself_off():
    def broken_critic(*args, **kwargs):
        raise RuntimeError("boom")

    tb, notes = FakeTB(), []
    explain_to_tensorboard(FakeGAN(broken_critic), FakeVal(), tb, step=1, echo=notes.append)
    explain_to_tensorboard(FakeGAN(broken_critic), FakeVal(), tb, step=2, echo=notes.append)
    assert tb.images_written == [] and len(notes) == 1 and "switched off" in notes[0]


def test_tensorboard_log_writes_events(tmp_path):
    from deblur_tf.run import TensorBoardLog

    tb = TensorBoardLog(tmp_path / "tb", enabled=True)
    assert tb.writer is not None, "TensorFlow and tensorboard are in requirements.txt: summaries must be on"
    tb.scalars(3, {"g_loss": 1.5, "val_psnr": float("nan")})
    tb.images(3, "samples", np.zeros((1, 8, 8, 3), np.float32))
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_training_logs_go_on_without_tensorboard(tmp_path, monkeypatch):
    """TF 2.21 no longer installs tensorboard: a missing one turns TensorBoard off with one note, never a crash."""
    import sys

    from deblur_tf.errors import DeblurError
    from deblur_tf.explain import ExplainCallback
    from deblur_tf.run import TensorBoardLog
    from deblur_tf.sysinfo import tensorboard_missing

    monkeypatch.setitem(sys.modules, "tensorboard.summary", None)  # makes `import tensorboard.summary` fail
    assert "pip install tensorboard" in tensorboard_missing()
    notes = []
    tb = TensorBoardLog(tmp_path / "tb", enabled=True, echo=notes.append)
    tb.scalars(1, {"g_loss": 1.0})
    tb.images(1, "samples", np.zeros((1, 8, 8, 3), np.float32))
    assert tb.writer is None and len(notes) == 1 and "log.csv" in notes[0]
    assert not (tmp_path / "tb").exists()

    x = np.zeros((1, 8, 8, 3), np.float32)
    assert ExplainCallback(x, log_dir=tmp_path, writer="auto").writer == "png"
    try:
        ExplainCallback(x, log_dir=tmp_path, writer="tensorboard")
    except DeblurError as exc:
        assert "tensorboard" in str(exc) and "writer='png'" in str(exc)
    else:
        raise AssertionError("writer='tensorboard' without tensorboard must fail at construction")
