"""Networks of deblur-tf: the generators, the PatchGAN critic and the frozen VGG feature extractor.

`build_generator(kind, **kwargs)` picks a generator by the name used in the pipeline TOML; the table is a
plain dict so that adding a generator is one line here. Importing this package registers the custom layers
(`layers.py`) so that `.keras` files load with a plain `keras.saving.load_model`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras

from deblur_tf.errors import DeblurError
from deblur_tf.models.critic import build_critic
from deblur_tf.models.flops import count_flops, count_macs
from deblur_tf.models.generator import build_resnet_generator
from deblur_tf.models.layers import CUSTOM_OBJECTS
from deblur_tf.models.mobile import build_mobile_generator
from deblur_tf.models.nafnet import Scale, SliceChannels, build_nafnet_generator
from deblur_tf.models.vgg import build_vgg_features

GENERATORS: dict[str, Callable[..., keras.Model]] = {
    "resnet": build_resnet_generator,
    "mobile": build_mobile_generator,
    "nafnet": build_nafnet_generator,
}
CUSTOM_OBJECTS.update({"Scale": Scale, "SliceChannels": SliceChannels})


def build_generator(kind: str, **kwargs) -> keras.Model:
    """The generator named `kind` ("resnet": the paper's; "mobile": light, for phones/CPUs; "nafnet": the
    quality-per-FLOP U-Net)."""
    try:
        builder = GENERATORS[kind]
    except KeyError:
        raise DeblurError(
            f"unknown generator {kind!r}: choose one of {', '.join(sorted(GENERATORS))}"
        ) from None
    allowed = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise DeblurError(
            f"generator {kind!r} has no option(s) {', '.join(unknown)}; its options are {', '.join(allowed)}"
        )
    return builder(**kwargs)


__all__ = [
    "CUSTOM_OBJECTS",
    "GENERATORS",
    "build_critic",
    "build_generator",
    "build_mobile_generator",
    "build_nafnet_generator",
    "build_resnet_generator",
    "build_vgg_features",
    "count_flops",
    "count_macs",
]
