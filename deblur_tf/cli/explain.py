"""`deblur-tf explain IMAGE -o OUT.png`: one PNG panel explaining what the model did to a photo.

input | restored | critic saliency on the input | critic saliency on the restored image | |restored − input|

The saliency needs a trained critic. Shipped models may carry only their generator, so the critic comes
from --critic, or from critic.keras / critic.weights.h5 (+ critic.json) stored beside the model; without
one the command says so and stops instead of drawing a map of an untrained network.
"""

from __future__ import annotations

from pathlib import Path

import click

from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.explain import explain_image
from deblur_tf.inference import Deblurrer
from deblur_tf.io import check_writable, read_image, write_image
from deblur_tf.zoo import find_critic, load_critic, load_model


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--model", "model", default=None, metavar="NAME|PATH",
              help="Shipped model name or a model file/folder (default: the shipped default model).")
@click.option("--critic", "critic_path", type=click.Path(path_type=Path), default=None,
              help="Trained critic: a .keras file, or a .weights.h5 with critic.json ({\"kwargs\": {...}}) beside "
                   "it. Default: the critic stored with the model, if any.")
@click.option("-o", "--out", "out", type=click.Path(path_type=Path), required=True, help="Output panel (.png).")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
@click.option("--max-side", default=1024, show_default=True, type=int,
              help="Shrink the photo so its longer side is at most this many pixels (0: full size); the saliency "
                   "of a 12 MP photo takes minutes on a CPU.")
def explain(image: Path, model: str | None, critic_path: Path | None, out: Path, overwrite: bool,
            max_side: int) -> None:
    """Saliency panel: where the critic still sees blur, and what the generator changed.

    Writes one PNG with five columns: the input, the restored image, the critic's saliency (gradient of
    its mean score w.r.t. the pixels; tf-keras-vis on the TensorFlow backend) on each of them, on a shared
    scale, and |restored − input|. The critic's mean score is shown next to the first two titles.

    \b
    Example:
      deblur-tf explain ../shared/data/real_blur/unpaired/01.png --critic runs/x/critic.weights.h5 -o panel.png
    """
    if out.suffix.lower() != ".png":
        raise DeblurError(f"--out {out}: the panel is written as PNG; use a .png name")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"--out {out}: already exists; pass --overwrite to replace it")

    check_writable(out.parent, "--out folder")
    if max_side < 0:
        raise DeblurError(f"--max-side {max_side}: use a positive number of pixels, or 0 for full size")

    img01, _ = read_image(image)

    loaded = load_model(model)
    if critic_path is None:
        critic_path = find_critic(loaded.source)
        if critic_path is None:
            raise DeblurError(
                f"no trained critic for model {loaded.name!r} ({loaded.source}): the saliency maps need one, and "
                "this model was shipped or saved without its critic. Pass --critic PATH: a .keras file, or the "
                "critic.weights.h5 of a training run with critic.json ({\"kwargs\": {...}}) beside it"
            )
        click.echo(f"critic: {critic_path}", err=True)
    critic = load_critic(critic_path)

    h, w = img01.shape[:2]
    if max_side and max(h, w) > max_side:
        import cv2

        scale = max_side / max(h, w)
        img01 = cv2.resize(img01, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        click.echo(f"shrunk {image} from {w}x{h} to {img01.shape[1]}x{img01.shape[0]} (--max-side {max_side})", err=True)

    restore = Deblurrer(loaded.predict, multiple=loaded.input_multiple)
    panel = explain_image(img01, restore, critic)

    write_image(out, panel.astype("float32") / 255.0, bit_depth=8, overwrite=overwrite)
    click.echo(f"wrote {out} ({panel.shape[1]}x{panel.shape[0]}; model {loaded.name}, critic {critic_path})")
