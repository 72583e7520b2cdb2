"""`kernel_extent` and `deblur-tf kernels --shake/--stats`: the extent distribution docs/BLUR.md quotes."""

from __future__ import annotations

import re

import numpy as np
from click.testing import CliRunner

from deblur_tf.blur import (
    REALISTIC_SHAKE,
    kernel_extent,
    linear_motion_kernel,
    per_item_generators,
    random_kernels,
)
from deblur_tf.cli import main


def test_extent_of_known_kernels():
    delta = np.zeros((7, 7), np.float32)
    delta[3, 3] = 1
    assert kernel_extent(delta) == 1
    line = linear_motion_kernel(10, 0, size=31)
    assert 10 <= kernel_extent(line) <= 12
    assert 10 <= kernel_extent(linear_motion_kernel(10, 90, size=31)) <= 12  # vertical: the longer side
    # a faint tail under 1 % of the peak does not count, one at 2 % does
    k = delta.copy()
    k[3, 0] = 0.005
    assert kernel_extent(k) == 1
    k[3, 0] = 0.02
    assert kernel_extent(k) == 4
    np.testing.assert_array_equal(kernel_extent(np.stack([delta, k])), [1, 4])


def _stats(*args):
    r = CliRunner().invoke(main, ["kernels", *args])
    assert r.exit_code == 0, r.output
    m = re.search(r"p10 (\d+) px, p50 (\d+) px, p90 (\d+) px, p99 (\d+) px", r.output)
    return [int(v) for v in m.groups()], r.output


def test_kernels_stats_match_the_library_and_realistic_is_larger():
    (p10, p50, p90, p99), out = _stats("--shake", "realistic", "--stats", "200", "--seed", "4")
    ext = kernel_extent(random_kernels(200, 63, rng=per_item_generators(4, range(200)), params=REALISTIC_SHAKE))
    assert [p10, p50, p90, p99] == [round(v) for v in np.percentile(ext, [10, 50, 90, 99])]
    assert "63x63 window" in out and "|" in out  # histogram lines
    shares = [float(x) for x in re.findall(r"([\d.]+) %", out)]
    assert abs(sum(shares) - 100) < 0.5
    (_, b50, b90, _), _ = _stats("--shake", "boracchi", "--stats", "200", "--seed", "4")
    assert p50 > b50 and p90 > b90


def test_kernels_needs_a_sheet_or_stats():
    r = CliRunner().invoke(main, ["kernels"])
    assert r.exit_code == 2 and "--stats" in r.output


def test_exposure_list_draws_one_fraction_per_kernel_and_the_default_list_changes_nothing():
    """A sequence of exposures is drawn from per kernel; DeblurGAN's (0.1, 0.5, 1) given explicitly is the default
    bit for bit (the shipped kernel banks and evaluation sets stay the same); (0.5, 1) drops the short 10 % cuts."""
    from deblur_tf.blur.psf import random_kernel_bank

    gens = lambda: per_item_generators(6, range(300))  # noqa: E731
    base, base_info = random_kernel_bank(300, 63, rng=gens(), params=REALISTIC_SHAKE)
    same, _ = random_kernel_bank(300, 63, rng=gens(), params=REALISTIC_SHAKE, exposure=(0.1, 0.5, 1.0))
    np.testing.assert_array_equal(base, same)
    assert set(base_info["exposure"]) == {0.1, 0.5, 1.0}
    long, info = random_kernel_bank(300, 63, rng=gens(), params=REALISTIC_SHAKE, exposure=(0.5, 1.0))
    assert set(info["exposure"]) == {0.5, 1.0}
    # the trajectories are the same draws: where both kept the whole path, the kernels are identical
    full = (info["exposure"] == 1.0) & (base_info["exposure"] == 1.0)
    assert full.sum() > 50
    np.testing.assert_array_equal(long[full], base[full])
    assert np.median(kernel_extent(long)) > np.median(kernel_extent(base))
    assert np.percentile(kernel_extent(long), 10) >= np.percentile(kernel_extent(base), 10) + 2
    one = random_kernels(20, 63, rng=per_item_generators(6, range(20)), params=REALISTIC_SHAKE, exposure=(1.0,))
    np.testing.assert_array_equal(one, random_kernels(20, 63, rng=per_item_generators(6, range(20)),
                                                      params=REALISTIC_SHAKE, exposure=1.0))
    for bad in ((), (0.0, 1.0), (0.5, 1.5)):
        try:
            random_kernels(2, 15, rng=0, exposure=bad)
        except ValueError as exc:
            assert "(0, 1]" in str(exc)
        else:
            raise AssertionError(f"exposure={bad} was accepted")


def test_kernels_stats_with_an_exposure_list():
    (a10, a50, _, _), _ = _stats("--shake", "realistic", "--stats", "200", "--seed", "4")
    (l10, l50, _, _), _ = _stats("--shake", "realistic", "--stats", "200", "--seed", "4", "--exposure", "0.5,1")
    ext = kernel_extent(random_kernels(200, 63, rng=per_item_generators(4, range(200)), params=REALISTIC_SHAKE,
                                       exposure=(0.5, 1.0)))
    assert [l10, l50] == [round(v) for v in np.percentile(ext, [10, 50])]
    assert l10 > a10 and l50 > a50
    r = CliRunner().invoke(main, ["kernels", "--stats", "10", "--exposure", "0,1"])
    assert r.exit_code == 2 and "(0, 1]" in r.output
