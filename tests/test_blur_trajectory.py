"""Boracchi & Foi camera-shake trajectories: the recursion, its parameters and seeding."""

from __future__ import annotations

import numpy as np
import pytest

from deblur_tf.blur import TrajectoryParams, path_length, random_trajectories
from deblur_tf.blur.trajectory import extent, simulate


def _reference_trajectory(params: TrajectoryParams, gen: np.random.Generator) -> np.ndarray:
    """The recursion written out step by step for one trajectory, drawing in the documented order."""
    steps = params.iters - 1
    u = [gen.uniform(0.0, 1.0, 1)[0] for _ in range(4)]
    expl, centripetal, shake, p_big = (
        v if v is not None else s * ui
        for v, s, ui in zip(
            (params.expl, params.centripetal, params.gaussian_shake, params.prob_big_shake),
            (0.1, 0.7, 10.0, 0.2),
            u,
            strict=True,
        )
    )
    angle = gen.uniform(0.0, 2.0 * np.pi, 1)[0]
    u_big = gen.uniform(0.0, 1.0, (1, steps))[0]
    u_turn = gen.uniform(-0.5, 0.5, (1, steps))[0]
    noise = (gen.standard_normal((1, steps)) + 1j * gen.standard_normal((1, steps)))[0]
    step = params.max_len / steps
    v = np.exp(1j * angle) * step
    x = [0j]
    for t in range(steps):
        jump = 2 * v * np.exp(1j * (np.pi + u_turn[t])) if u_big[t] < p_big * expl else 0
        v = v + jump + expl * (shake * noise[t] - centripetal * x[-1]) * step
        v = v / abs(v) * step
        x.append(x[-1] + v)
    return np.array(x)


def test_vectorised_recursion_matches_step_by_step_reference():
    params = TrajectoryParams(iters=300, expl=0.5, prob_big_shake=0.2)  # frequent reversals exercised
    got = random_trajectories(1, params, rng=7)[0]
    ref = _reference_trajectory(params, np.random.default_rng(7))
    # positions differ by the canvas centring only
    np.testing.assert_allclose(np.diff(got), np.diff(ref), atol=1e-9)


def test_same_seed_same_trajectories_different_seed_different():
    a = random_trajectories(4, rng=3)
    b = random_trajectories(4, rng=3)
    c = random_trajectories(4, rng=4)
    assert a.shape == (4, 2000) and np.iscomplexobj(a)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_per_item_generators_make_each_trajectory_independent_of_the_batch():
    gens = lambda idx: [np.random.default_rng([11, i]) for i in idx]  # noqa: E731
    batch = random_trajectories(3, rng=gens([0, 1, 2]))
    alone = random_trajectories(1, rng=gens([2]))
    np.testing.assert_array_equal(batch[2], alone[0])


def test_path_length_is_max_len_and_extent_grows_with_it():
    medians = []
    for max_len in (10.0, 30.0, 60.0):
        traj = random_trajectories(64, TrajectoryParams(max_len=max_len), rng=0)
        np.testing.assert_allclose(path_length(traj), max_len, rtol=1e-9)
        medians.append(np.median(extent(traj)))
    assert medians[0] < medians[1] < medians[2]


def test_no_anxiety_is_a_straight_line_of_full_length():
    traj = random_trajectories(5, TrajectoryParams(expl=0.0, max_len=40.0), rng=1)
    np.testing.assert_allclose(np.abs(traj[:, -1] - traj[:, 0]), 40.0, rtol=1e-9)


def test_centripetal_pull_keeps_the_shake_compact():
    free = random_trajectories(64, TrajectoryParams(expl=0.1, gaussian_shake=3, centripetal=0.0), rng=2)
    pulled = random_trajectories(64, TrajectoryParams(expl=0.1, gaussian_shake=3, centripetal=0.7), rng=2)
    assert np.median(extent(pulled)) < 0.6 * np.median(extent(free))


def test_trajectories_are_centred_in_the_canvas():
    traj = random_trajectories(8, TrajectoryParams(canvas=64), rng=5)
    mid = (traj.real.min(1) + traj.real.max(1)) / 2, (traj.imag.min(1) + traj.imag.max(1)) / 2
    np.testing.assert_allclose(mid, 31.5, atol=1e-9)


def test_random_strengths_follow_the_paper_ranges():
    _, drawn = simulate(500, TrajectoryParams(iters=2), rng=0)
    for key, top in (("expl", 0.1), ("centripetal", 0.7), ("gaussian_shake", 10.0), ("prob_big_shake", 0.2)):
        assert 0 <= drawn[key].min() and drawn[key].max() <= top
        assert drawn[key].max() > 0.9 * top  # drawn over the whole range, not a constant


@pytest.mark.parametrize(
    "kwargs", [{"iters": 1}, {"max_len": 0}, {"canvas": 0}, {"expl": -0.1}, {"centripetal": -1}]
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TrajectoryParams(**kwargs)


def test_generator_count_must_match():
    with pytest.raises(ValueError, match="2 generators for 3"):
        random_trajectories(3, rng=[np.random.default_rng(0), np.random.default_rng(1)])
