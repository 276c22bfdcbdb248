"""Image grids are drawn without matplotlib, yet with matplotlib's exact colours."""

import numpy as np
import pytest
from matplotlib import colormaps

from analysis.figures import images
from analysis.figures.colour_tables import TABLES


@pytest.mark.parametrize("cmap", sorted(TABLES))
def test_copied_colour_tables_give_matplotlibs_colours(cmap):
    values = np.concatenate([np.linspace(-0.5, 1.5, 4001),
                             [0.0, 1.0, 1 / 256, 255 / 256, np.nextafter(1.0, 0), np.nan, np.inf, -np.inf]])
    expected = (colormaps[cmap](np.clip(values, 0, 1))[..., :3] * 255).round().astype(np.uint8)
    assert np.array_equal(images.colourise(values, 0.0, 1.0, cmap), expected)


def test_other_colormaps_fall_back_to_matplotlib():
    values = np.linspace(0, 1, 300)
    expected = (colormaps["magma"](values)[..., :3] * 255).round().astype(np.uint8)
    assert np.array_equal(images.colourise(values, 0.0, 1.0, "magma"), expected)


def test_a_fixed_scale_maps_the_bounds_to_the_ends_of_the_colormap():
    rgb = images.colourise(np.array([-3.0, 0.0, 3.0]), -3.0, 3.0, "RdBu_r")
    table = images.colour_table("RdBu_r")
    assert (rgb[0] == table[0]).all() and (rgb[2] == table[255]).all() and (rgb[1] == table[128]).all()


def test_grid_places_tiles_row_major_with_a_label_band():
    maps = np.stack([np.full((4, 4), v, dtype=np.float32) for v in (0.0, 1.0, 0.5)])
    grid = images.grid(maps, 0.0, 1.0, "viridis", columns=2, labels=["0", "1", "2"])
    factor = images.scale_for(4)
    tile = 4 * factor
    assert grid.shape == (2 * (tile + images.LABEL_PX + images.GAP_PX) + images.GAP_PX,
                          2 * (tile + images.GAP_PX) + images.GAP_PX, 3)
    top = images.GAP_PX + images.LABEL_PX
    first, second = images.GAP_PX, 2 * images.GAP_PX + tile
    table = images.colour_table("viridis")
    assert (grid[top + 1, first + 1] == table[0]).all()
    assert (grid[top + 1, second + 1] == table[255]).all()
    third_top = top + tile + images.GAP_PX + images.LABEL_PX
    assert (grid[third_top + 1, first + 1] == table[128]).all()
    assert (grid[third_top + 1, second + 1] == 255).all()  # no fourth tile: background
