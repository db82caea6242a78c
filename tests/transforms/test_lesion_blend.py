"""Real lesions blended into other films: the excess over the lesion's surroundings lands at the site, nothing else
changes, the site keeps the blend on the breast."""

from __future__ import annotations

import numpy as np
import pytest

from mammo_monai.transforms.lesion_blend import BLEND_REACH, blend_lesion, lesion_sites


def _disc_film(center, radius, inside=0.8, outside=0.4, shape=(80, 80)):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    film = np.full(shape, outside, np.float32)
    film[(yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius ** 2] = inside
    return film


def test_the_lesion_excess_lands_at_the_site_and_nowhere_else():
    source = _disc_film((20, 30), 6)
    target = np.linspace(0.1, 0.3, 80, dtype=np.float32)[None, :].repeat(80, 0)  # a tissue gradient
    out = blend_lesion(target, source, (20, 30), 6, (50, 45))
    assert out.dtype == np.float32 and out.shape == target.shape
    assert out[50, 45] == pytest.approx(target[50, 45] + 0.4, abs=1e-5)  # disc 0.8 over a ring median of 0.4
    changed = np.argwhere(np.abs(out - target) > 1e-6)
    assert (np.hypot(changed[:, 0] - 50, changed[:, 1] - 45) < BLEND_REACH * 6 + 1).all()
    assert np.array_equal(target, np.linspace(0.1, 0.3, 80, dtype=np.float32)[None, :].repeat(80, 0))  # untouched


def test_the_source_background_does_not_travel():
    bright_background = _disc_film((20, 30), 6, inside=0.95, outside=0.55)
    out = blend_lesion(np.zeros((80, 80), np.float32), bright_background, (20, 30), 6, (40, 40))
    assert out[40, 40] == pytest.approx(0.4, abs=1e-5) and out[40, 40 + 8] == pytest.approx(0.0, abs=1e-6)


def test_clipped_at_the_film_range_and_near_the_border():
    out = blend_lesion(np.full((30, 30), 0.9, np.float32), _disc_film((20, 30), 6), (20, 30), 6, (1, 28))
    assert out.max() == 1.0 and out.shape == (30, 30)  # a site at the edge: the blend is cut, not shifted


def test_refusals():
    with pytest.raises(ValueError, match="positive"):
        blend_lesion(np.zeros((8, 8)), np.zeros((8, 8)), (4, 4), 0, (4, 4))
    with pytest.raises(ValueError, match="2D"):
        blend_lesion(np.zeros((1, 8, 8)), np.zeros((8, 8)), (4, 4), 2, (4, 4))


def test_sites_keep_the_blend_on_the_breast():
    breast = np.zeros((60, 60), bool)
    breast[10:50, 0:30] = True
    sites = lesion_sites(breast, 5, 20, np.random.default_rng(0))
    assert len(sites) == 20 and len({tuple(s) for s in sites}) == 20
    assert (sites[:, 0] >= 10 + 7.5 - 1).all() and (sites[:, 1] <= 30 - 7.5).all()
    assert lesion_sites(breast, 30, 5, np.random.default_rng(0)).shape == (0, 2)  # no room for a 30-px lesion
    again = lesion_sites(breast, 5, 20, np.random.default_rng(0))
    assert np.array_equal(sites, again)  # seeded
