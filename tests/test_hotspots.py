"""Gi* hot spots on point patterns with a known answer, checked against PySAL's esda."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from geo.hotspots import _bh_adjust, cell_counts, classify, gi_star, hotspots

BOUNDS = (0.0, 0.0, 10_000.0, 8_000.0)


def _csr(seed: int, n: int = 20_000):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 10_000, n), rng.uniform(0, 8_000, n)


def test_planted_cluster_is_hot_at_99_percent_where_it_was_planted():
    x, y = _csr(1)
    rng = np.random.default_rng(2)
    cx, cy = rng.normal(3_000, 150, 600), rng.normal(5_000, 150, 600)
    result = hotspots(np.r_[x, cx], np.r_[y, cy], 200, bounds_xy_m=BOUNDS)
    hot = result.cls == "hot_99"
    assert hot.sum() >= 4
    centres = result.cell_bounds_xy_m()[hot][:, :2] + 100
    assert np.all(np.hypot(centres[:, 0] - 3_000, centres[:, 1] - 5_000) < 600)
    # the planted cell itself is the hottest
    peak = np.argmax(result.z)
    assert np.hypot(*(result.cell_bounds_xy_m()[peak][:2] + 100 - (3_000, 5_000))) < 300


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_complete_spatial_randomness_has_no_significant_cell_after_fdr(seed):
    x, y = _csr(seed)
    result = hotspots(x, y, 200, bounds_xy_m=BOUNDS)
    assert set(result.cls) == {"not_significant"}
    # ... although some raw permutation p-values are below 0.05, as they must be by chance
    assert (result.p_sim < 0.05).sum() > 0


def test_z_scores_equal_esda_and_p_values_agree():
    import esda
    from libpysal.weights import lat2W

    x, y = _csr(3)
    values = cell_counts(x, y, (0, 0), (40, 50), 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # esda's own deprecation chatter
        ref = esda.G_Local(values.ravel(), lat2W(40, 50, rook=False), star=True, permutations=999,
                           transform="B", seed=1)
    _, z, p_sim, _ = gi_star(values, np.ones((40, 50), bool), permutations=999)
    np.testing.assert_allclose(z, ref.Zs, atol=1e-9)
    assert np.corrcoef(p_sim, ref.p_sim)[0, 1] > 0.95


def test_same_seed_same_answer():
    x, y = _csr(4, 5_000)
    a = hotspots(x, y, 250, bounds_xy_m=BOUNDS, seed=7)
    b = hotspots(x, y, 250, bounds_xy_m=BOUNDS, seed=7)
    np.testing.assert_array_equal(a.p_sim, b.p_sim)


def test_weights_and_study_area_mask():
    x = np.array([150.0, 150.0, 950.0])
    y = np.array([150.0, 150.0, 950.0])
    weighted = hotspots(x, y, 100, bounds_xy_m=(0, 0, 1_000, 1_000), weights=np.array([2.0, 3.0, 1.0]))
    cell = (weighted.rows == 1) & (weighted.cols == 1)
    assert weighted.value[cell][0] == 5.0
    half = hotspots(x, y, 100, bounds_xy_m=(0, 0, 1_000, 1_000), area_mask=lambda cx, cy: cx < 500)
    assert len(half.value) == 50


def test_benjamini_hochberg_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(_bh_adjust(p), [0.02, 0.04, 0.04, 0.02])


def test_classes_follow_sign_and_level():
    cls = classify(np.array([3.0, -3.0, 2.0, 1.0]), np.array([0.005, 0.02, 0.08, 0.5]))
    assert list(cls) == ["hot_99", "cold_95", "hot_90", "not_significant"]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"cell_size_m": 0}, "cell_size_m"), ({"cell_size_m": 0.001}, "larger cell size")],
)
def test_bad_arguments_are_refused_with_the_value(kwargs, message):
    x, y = _csr(5, 100)
    with pytest.raises(ValueError, match=message):
        hotspots(x, y, bounds_xy_m=BOUNDS, **kwargs)
