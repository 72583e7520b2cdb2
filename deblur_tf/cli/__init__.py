"""The `deblur-tf` command line.

Subcommands live in their own modules and are imported only when run, so `deblur-tf --help` answers without
importing TensorFlow. A `DeblurError` raised anywhere becomes a one-line message and exit status 2.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from deblur_tf import __version__
from deblur_tf.errors import DeblurError

# name -> (module, attribute, one-line help shown by `deblur-tf --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "synth": ("deblur_tf.cli.synth", "synth", "Blur sharp photos with random camera shake into a paired set."),
    "kernels": ("deblur_tf.cli.synth", "kernels", "Draw a sheet of sample blur kernels."),
    "train": ("deblur_tf.cli.train", "train", "Train a DeblurGAN model from a pipeline TOML."),
    "deblur": ("deblur_tf.cli.deblur", "deblur", "Deblur images of any size with a trained model."),
    "evaluate": ("deblur_tf.cli.evaluate", "evaluate", "Measure PSNR/SSIM/LPIPS against classical baselines."),
    "export": ("deblur_tf.cli.export", "export", "Export SavedModel / TFLite artifacts, verified against Keras."),
    "models": ("deblur_tf.cli.deblur", "models", "List the shipped models."),
    "explain": ("deblur_tf.cli.explain", "explain", "Saliency panel: where the critic still sees blur."),
    "demo": ("deblur_tf.cli.demo", "demo", "Build and serve the in-browser TFLite demo."),
}

# the commands that run a Keras model: they load TensorFlow (quietly) before they start; synth, kernels and
# models are numpy-only and stay fast
USES_TENSORFLOW = frozenset({"train", "deblur", "evaluate", "export", "explain", "demo"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, short = COMMANDS[name]
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            if "--help" in sys.argv and name not in sys.argv:
                # listing the group: keep --help usable even if one command's dependencies are broken
                return click.Command(name, help=short, short_help=short)
            raise click.ClickException(f"command {name!r} is unavailable: {exc}") from exc
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # one-line help from the table, without importing every command module
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, cmd, rest = super().resolve_command(ctx, args)
        if name in USES_TENSORFLOW and not {"-h", "--help"} & set(rest):  # about to run it: load TF quietly
            from deblur_tf.cli._quiet import quiet_tensorflow_import

            quiet_tensorflow_import()
        return name, cmd, rest

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeblurError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise  # usage errors and explicit exits keep click's own handling
        except KeyboardInterrupt:
            # the same status as `train` (128 + SIGINT); outputs are written atomically, so every file
            # already reported is complete and no half file is left
            click.echo("\ninterrupted (Ctrl-C): the outputs written so far are complete", err=True)
            ctx.exit(130)
        except OSError as exc:  # a file system failure no command anticipated: still one line naming the path
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc} ({type(exc).__name__}); check the path, free space "
                       "and permissions", err=True)
            ctx.exit(2)
        except Exception as exc:
            if os.environ.get("DEBLUR_TF_TRACEBACK"):
                raise
            # EOFError would otherwise reach click as a bare "Aborted!"; anything else is a bug, still shown
            # in one line (the traceback is one variable away)
            click.echo(f"error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                       "(a bug in deblur-tf: rerun with DEBLUR_TF_TRACEBACK=1 for the traceback and report it)",
                       err=True)
            ctx.exit(1)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deblur-tf")
def main() -> None:
    """Blind motion deblurring with DeblurGAN: synthesise blur, train, deblur, evaluate, export.

    TensorFlow's start-up log is hidden; set DEBLUR_TF_VERBOSE=1 to see it (e.g. to check GPU detection).
    """
