"""`deblur-tf evaluate`: the command line of the evaluation library (`deblur_tf.evaluation`, which documents the
sets, the methods and the output files); this module only parses and checks options and calls it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from deblur_tf.config import resolve_path
from deblur_tf.errors import DeblurError
from deblur_tf.evaluation import (
    BASELINES,
    EVAL_PRESETS,
    KERNEL_METHODS,
    PRESET_FIXES,
    baseline_params,
    baseline_runners,
    check_outputs,
    load_eval_set,
    load_models,
    machine_record,
    method_means,
    n_a_note,
    run_methods,
    summary_markdown,
    synthetic_record,
    write_contact_sheet,
    write_results,
)
from deblur_tf.inference import ENSEMBLE_SIZES, auto_overlap
from deblur_tf.io import check_writable
from deblur_tf.metrics import LPIPS


@click.command("evaluate")
@click.option("--preset", type=click.Choice(sorted(EVAL_PRESETS)), default=None,
              help="A named synthetic set with every parameter fixed. val-shake: ../shared/data/sharp/val whole, "
                   "REALISTIC_SHAKE kernels 63x63, gamma 2.2 (even images) / 1.0 (odd), noise 0.01, 8-bit, "
                   "seed 2026 (--sharp may point at another copy of the photos).")
@click.option("--pairs", "pairs_dir", type=click.Path(path_type=Path), default=None,
              help="Paired set: blur/ and sharp/ folders (kernels/*.npy used when present).")
@click.option("--sharp", "sharp_dir", type=click.Path(path_type=Path), default=None,
              help="Sharp images to blur synthetically (needs --synthetic-seed).")
@click.option("--synthetic-seed", type=int, default=None, help="Seed of the synthetic blur (kernels and noise).")
@click.option("--kernel-size", type=click.IntRange(3, 256), default=31, show_default=True,
              help="Side of the synthetic blur kernels.")
@click.option("--shake", type=click.Choice(["boracchi", "realistic"]), default="boracchi", show_default=True,
              help="Trajectory preset of the synthetic kernels (deblur_tf.blur.SHAKE_PRESETS, docs/BLUR.md).")
@click.option("--noise-std", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Gaussian noise added after the synthetic blur, in [0, 1] units.")
@click.option("--gamma", type=click.FloatRange(min=0), default=None,
              help="Gamma of the blur (synthesis and the baselines' linear-light deconvolution). Default: 2.2 "
                   "for --sharp, the manifest's value for --pairs (else none); 0 or 1: pixel values as stored.")
@click.option("--model", "models", multiple=True, help="Model name or path to evaluate (repeatable).")
@click.option("--baselines", default="blurred,wiener,tikhonov,rl", show_default=True,
              help="Comma-separated subset of blurred,wiener,tikhonov,rl ('' or none for no baselines).")
@click.option("--tune", is_flag=True,
              help="Pick the single best NSR / Tikhonov weight / RL iteration count on this set (by PSNR) first.")
@click.option("--tune-images", type=click.IntRange(min=1), default=20, show_default=True,
              help="--tune uses the first N images that have a kernel (all of them are held in memory).")
@click.option("--nsr", type=click.FloatRange(min=0), default=None, help="Wiener noise-to-signal ratio.")
@click.option("--tikhonov-weight", type=click.FloatRange(min=0), default=None,
              help="Tikhonov weight gamma of the Laplacian penalty.")
@click.option("--rl-iters", type=click.IntRange(min=1), default=None, help="Richardson–Lucy iterations.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images (sorted).")
@click.option("--max-side", type=click.IntRange(min=16), default=None,
              help="Downscale images whose longer side exceeds this (synthetic sets and pairs without kernels).")
@click.option("--crop-mismatch", is_flag=True,
              help="Centre-crop a blurred/sharp pair of slightly different sizes to their common area.")
@click.option("--tile", type=click.IntRange(min=0), default=1024, show_default=True,
              help="Tile side for the models (0: whole images). Large, so that typical test images run whole: "
                   "instance-normalised models give slightly different output per tile. Tiles overlap as `deblur`'s do.")
@click.option("--ensemble", type=click.Choice([str(n) for n in ENSEMBLE_SIZES]), default="1", show_default=True,
              help="Run every --model as a mirrored self-ensemble of this size (named <model>-x<N> in the table). "
                   "The default, 1, measures each network alone, so candidates compare like with like; `deblur` "
                   "runs a model's own default (2 for the default nafnet): --ensemble 2 measures that.")
@click.option("--lpips/--no-lpips", "use_lpips", default=True, show_default=True,
              help="LPIPS costs one VGG16 pass per image and method (seconds per image on a CPU).")
@click.option("--lpips-weights", type=click.Path(path_type=Path), default=None,
              help="vgg16_imagenet_lpips.npz (default: ../shared/weights).")
@click.option("--mean-matched", is_flag=True,
              help="Also report PSNR after moving each output's per-channel mean onto the reference's: real pairs "
                   "whose sharp frame was exposed or white-balanced differently otherwise reward a model for "
                   "tinting (docs/RESULTS.md).")
@click.option("--save-images", is_flag=True, help="Also write every restored image under OUT/images/<method>/.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for results.csv, summary.json, summary.md, contact_sheet.png (and kernels.npz).")
@click.option("--overwrite", is_flag=True, help="Replace earlier results in --out.")
@click.pass_context
def evaluate(ctx, preset, pairs_dir, sharp_dir, synthetic_seed, kernel_size, shake, noise_std, gamma, models,
             baselines, tune, tune_images, nsr, tikhonov_weight, rl_iters, limit, max_side, crop_mismatch, tile,
             ensemble, use_lpips, lpips_weights, mean_matched, save_images, out_dir, overwrite) -> None:
    """Measure models and classical baselines on a paired or synthetically blurred set.

    \b
    Examples:
      deblur-tf evaluate --sharp ../shared/data/sharp/val --synthetic-seed 2024 --out results/val
      deblur-tf evaluate --preset val-shake --model deblurgan-mobile --out results/val_shake
      deblur-tf evaluate --pairs ../shared/data/real_blur/paired --crop-mismatch --out results/real
      deblur-tf evaluate --pairs synth_out/ --model deblurgan --tune --out results/synth
    """
    from tqdm import tqdm

    gammas, quantize_bits = None, None
    if preset is not None:
        sharp_dir, synthetic_seed, kernel_size, shake, noise_std, gammas, quantize_bits = _apply_preset(
            ctx, preset, sharp_dir)
    chosen = _check_options(pairs_dir, sharp_dir, synthetic_seed, shake, baselines, models)
    check_outputs(out_dir, overwrite, save_images)
    check_writable(out_dir, "--out folder")  # before minutes of evaluation, not after
    data = load_eval_set(pairs_dir, sharp_dir, synthetic_seed, limit, kernel_size, noise_std, gamma, max_side, shake,
                         crop_mismatch, gammas, quantize_bits)
    # models and LPIPS first, so a bad --model or missing weights fail before minutes of tuning
    model_runners, model_info = load_models(models, tile, int(ensemble))
    lp = LPIPS(lpips_weights) if use_lpips else None
    params, tuned = baseline_params(chosen, data, {"wiener": nsr, "tikhonov": tikhonov_weight, "rl": rl_iters},
                                    tune, tune_images, lambda m: click.echo(m, err=True))
    runners = {**baseline_runners(chosen, params, data), **model_runners}
    res = run_methods(data, runners, params, lp, out_dir / "images" if save_images else None, overwrite, tqdm,
                      mean_matched=mean_matched)
    methods = method_means(runners, res.rows, lp is not None)
    summary = {
        "command": "deblur-tf " + " ".join(sys.argv[1:]) if sys.argv and "deblur" in sys.argv[0] else None,
        "mode": data.mode,
        "source": str(sharp_dir or pairs_dir),
        "images": len(data.samples),
        "images_with_kernel": len(data.with_kernel),
        "preset": preset,
        "synthetic": synthetic_record(data.samples, synthetic_seed, kernel_size, noise_std, shake, gammas,
                                      quantize_bits, data.blur_gamma) if data.mode == "synthetic" else None,
        "gamma": "per image (synthetic.gammas)" if gammas else data.blur_gamma,
        "limit": limit, "max_side": max_side, "crop_mismatch": crop_mismatch, "tile": tile,
        "overlap": auto_overlap(tile or None),
        "baseline_params": {m: params[m] for m in KERNEL_METHODS if m in chosen},
        "tuned": tuned or None,
        "models": model_info,
        "lpips": "vgg (Zhang et al. 2018)" if lp else None,
        "methods": methods,
        "machine": machine_record(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    write_results(out_dir, summary, data, res, overwrite)
    primary = write_contact_sheet(out_dir / "contact_sheet.png", runners, model_info, methods, res, overwrite)
    click.echo(summary_markdown(summary) + n_a_note(methods))
    click.echo(f"ranked by {primary}; results in {out_dir}")


def _apply_preset(ctx: click.Context, preset: str, sharp_dir: Path | None) -> tuple:
    """What `--preset` fixes: (sharp_dir, seed, kernel_size, shake, noise_std, gammas, quantize_bits)."""
    p = EVAL_PRESETS[preset]
    given = [n for n in PRESET_FIXES if ctx.get_parameter_source(n) not in (None, click.core.ParameterSource.DEFAULT)]
    if given:
        flags = ", ".join("--" + ("pairs" if n == "pairs_dir" else n.replace("_", "-")) for n in given)
        raise DeblurError(f"--preset {preset} fixes {flags}; drop them (or leave out --preset to choose)")
    if sharp_dir is None:
        sharp_dir = resolve_path(p["sharp"])
    return (sharp_dir, p["seed"], p["kernel_size"], p["shake"], p["noise_std"], tuple(p["gammas"]),
            p["quantize_bits"])


def _check_options(pairs_dir: Path | None, sharp_dir: Path | None, synthetic_seed: int | None, shake: str,
                   baselines: str, models: tuple[str, ...]) -> list[str]:
    """The option combinations that cannot work, as errors; returns the chosen baselines."""
    if (pairs_dir is None) == (sharp_dir is None):
        raise DeblurError("give exactly one of --pairs DIR or --sharp DIR --synthetic-seed S")
    if sharp_dir is not None and synthetic_seed is None:
        raise DeblurError("--sharp needs --synthetic-seed S so the synthetic blur can be reproduced")
    if pairs_dir is not None and synthetic_seed is not None:
        raise DeblurError("--synthetic-seed only applies to --sharp; --pairs uses the blur in the files")
    if pairs_dir is not None and shake != "boracchi":
        raise DeblurError("--shake only applies to --sharp; --pairs uses the blur in the files")
    chosen = [b.strip().lower() for b in baselines.split(",") if b.strip() and b.strip().lower() != "none"]
    bad = [b for b in chosen if b not in BASELINES]
    if bad:
        raise DeblurError(f"--baselines: unknown {', '.join(bad)}; choose from {', '.join(BASELINES)}")
    if not chosen and not models:
        raise DeblurError("nothing to evaluate: give --model and/or --baselines")
    return chosen
