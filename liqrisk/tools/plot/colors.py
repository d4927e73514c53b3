"""Colour scale of the liquidation pictures, and its normalisation.

The scale goes from near-black indigo (empty) through blue-violet and magenta (little)
to orange and red (dense), like the heatmaps of Coinglass or Hyblock. It is built in
CIELAB with lightness L* rising linearly from 5 to 58, so brighter always means more
USD, in colour and in greyscale (``lightness`` lets the tests check this). A scale
that ends in a saturated red cannot also end in bright yellow without L* falling, which
is why the yellow of plasma/inferno is left out and orange sits below the red.

Normalisation (``heat_scale``): one giant cluster would otherwise set the top of the
scale and leave everything else indigo. So the top of the scale is the 99.5th
percentile of the non-empty cells of the panel (cells above it are drawn in the top
red, and the colourbar shows an arrow), and colours follow ``(usd / top) ** 0.5``
(a square-root "gamma"), which lifts the faint levels that show where positions are.
"""

from __future__ import annotations

import numpy as np

#: (position, L*, a*, b*) anchors: indigo, blue-violet, violet, magenta, orange, red.
_LAB_ANCHORS = np.array(
    [
        (0.00, 5.0, 10.0, -20.0),
        (0.20, 16.0, 38.0, -52.0),
        (0.42, 28.0, 55.0, -62.0),
        (0.62, 39.0, 62.0, -22.0),
        (0.82, 50.0, 52.0, 57.0),
        (1.00, 58.0, 68.0, 50.0),
    ]
)
#: Top of the colour scale: this percentile of the panel's non-empty cells.
PERCENTILE = 99.5
#: Exponent of the power norm: colour position = (usd / top) ** GAMMA.
GAMMA = 0.5

_M = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)  # linear sRGB -> XYZ (D65)
_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb) -> np.ndarray:
    """CIELAB (D65) of sRGB colours in [0, 1], shape [..., 3]."""
    rgb = np.asarray(rgb, dtype=np.float64)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _M.T / _WHITE
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


def lab_to_srgb(lab) -> np.ndarray:
    """sRGB in [0, 1] of CIELAB colours, shape [..., 3]; out-of-gamut values are clipped."""
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f**3 > 216 / 24389, f**3, (116 * f - 16) / (24389 / 27)) * _WHITE
    lin = np.clip(xyz @ np.linalg.inv(_M).T, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def liq_colors(n: int = 256) -> np.ndarray:
    """[n, 3] sRGB colours of the scale, interpolated linearly in CIELAB."""
    pos = np.linspace(0.0, 1.0, n)
    lab = np.stack([np.interp(pos, _LAB_ANCHORS[:, 0], _LAB_ANCHORS[:, i]) for i in (1, 2, 3)], axis=-1)
    return lab_to_srgb(lab)


def liq_cmap():
    """The scale as a matplotlib colormap named ``"liqrisk"``."""
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(liq_colors(256), name="liqrisk")
    return cmap.with_extremes(over=cmap(1.0), under=cmap(0.0), bad=cmap(0.0))


def plotly_colorscale(n: int = 33, gamma: float = 1.0) -> list[list]:
    """The scale as a plotly colorscale (positions in [0, 1], ``rgb(...)`` strings).

    plotly maps values linearly; with ``gamma`` the stops sit at ``u ** (1 / gamma)`` for
    colours ``u`` so that a value ``v`` of the [zmin, zmax] range gets colour ``v ** gamma``,
    the same power norm as the PNG (exact at the stops, linear in between).
    """
    rgb = np.round(liq_colors(n) * 255).astype(int)
    u = np.linspace(0.0, 1.0, n)
    return [[float(p), f"rgb({r},{g},{b})"] for p, (r, g, b) in zip(u ** (1.0 / gamma), rgb, strict=True)]


def lightness(cmap, n: int = 256) -> np.ndarray:
    """L* of ``n`` samples of a matplotlib colormap, from its bottom to its top."""
    return srgb_to_lab(np.asarray(cmap(np.linspace(0.0, 1.0, n)))[:, :3])[:, 0]


def heat_top(*arrays: np.ndarray, percentile: float = PERCENTILE) -> float:
    """Top of the colour scale (USD): ``percentile`` of the non-empty cells, 1.0 if all are empty."""
    values = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return 1.0
    return float(np.percentile(values, percentile))


def heat_scale(*arrays: np.ndarray, percentile: float = PERCENTILE, gamma: float = GAMMA):
    """matplotlib ``PowerNorm`` from 0 USD to ``heat_top`` with exponent ``gamma``."""
    from matplotlib.colors import PowerNorm

    return PowerNorm(gamma=gamma, vmin=0.0, vmax=heat_top(*arrays, percentile=percentile), clip=False)


def usd_label(value: float) -> str:
    """Short USD label: 950 -> '$950', 1.25e6 -> '$1.2M', 3e9 -> '$3B'."""
    v = abs(value)
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            text = f"{value / scale:.1f}".rstrip("0").rstrip(".")
            return f"${text}{unit}"
    return f"${value:.0f}"
