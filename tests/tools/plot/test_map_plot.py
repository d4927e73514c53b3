"""``liqrisk map``: the bars are the liquidation map's per-tier USD; files are valid; bad input exits 2."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from liqrisk.cli import main  # noqa: E402
from liqrisk.core.grids import liquidation_map  # noqa: E402
from liqrisk.tools.datadir import load_market  # noqa: E402
from liqrisk.tools.plot.liqmap import liqmap_figure, liqmap_plotly  # noqa: E402
from liqrisk.tools.sim.writer import simulate_datadir  # noqa: E402

PAIR = "BTC/USDT:USDT"
AT = "2025-03-29T12:00"


@pytest.fixture(scope="module")
def datadir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("map") / "data"
    simulate_datadir(root, [PAIR], days=3, seed=5, end="2025-03-31")
    return root / "binance"


@pytest.fixture(scope="module")
def lm(datadir):
    market = load_market(PAIR, "5m", datadir=datadir)
    return liquidation_map(
        market.ohlcv, **market.engine_inputs(), config={"windows": ["1d"]}, window="1d", at=AT, price_bins=80
    )


def test_bars_are_the_tier_breakdown(lm):
    fig = liqmap_figure(lm)
    ax, ax2 = fig.axes[:2]
    steps = [p for p in ax.patches if hasattr(p, "get_data")]
    assert len(steps) == 5  # one stacked step patch per leverage tier
    for k, step in enumerate(steps):
        top, edges, baseline = step.get_data()
        np.testing.assert_allclose(top - baseline, lm.usd[0, k] + lm.usd[1, k], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(baseline, lm.usd[:, :k].sum(axis=(0, 1)), rtol=1e-9, atol=1e-6)
        np.testing.assert_array_equal(edges, lm.price_edges)
    assert lm.usd.sum() > 0
    # Cumulative curves: long from the price down, short from the price up.
    long_line, short_line = ax2.get_lines()[:2]
    below = lm.price_centers <= lm.price
    np.testing.assert_allclose(np.asarray(long_line.get_ydata())[below], lm.cumulative_long_usd[below])
    assert np.isnan(np.asarray(long_line.get_ydata())[~below]).all()
    above = lm.price_centers >= lm.price
    np.testing.assert_allclose(np.asarray(short_line.get_ydata())[above], lm.cumulative_short_usd[above])
    # The price line, axes and title.
    assert any(np.allclose(line.get_xdata(), lm.price) for line in ax.get_lines())
    assert ax.get_xlim() == pytest.approx((lm.price_edges[0], lm.price_edges[-1]))
    assert "USDT" in ax.get_xlabel() and "USD" in ax.get_ylabel()
    title = fig.get_suptitle()
    assert PAIR in title and "2025-03-29 12:05 UTC" in title and "window 1d" in title
    plt.close(fig)
    bars = [t for t in liqmap_plotly(lm).data if t.type == "bar"]
    np.testing.assert_allclose(np.asarray(bars[2].y), lm.usd[:, 2].sum(axis=0))


def test_cli_png_html_and_bad_input(datadir, tmp_path, capsys):
    base = ["map", "--datadir", str(datadir), "--pair", PAIR, "--no-progress"]
    out = tmp_path / "map.png"
    assert main([*base, "--at", AT, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = tmp_path / "map.html"
    assert main([*base, "--out", str(html), "--bins", "50"]) == 0
    assert "Plotly.newPlot" in html.read_text()
    capsys.readouterr()
    cases = [
        (["--at", "2024-01-01", "--out", str(out)], "(2024-01-01 00:00 UTC to 2024-01-01 00:05 UTC) ends before"),
        (["--at", "2026-01-01", "--out", str(out)], "(2026-01-01 00:00 UTC to 2026-01-01 00:05 UTC) starts after"),
        (["--at", "yesterday-ish", "--out", str(out)], "is not a date"),
        (["--window", "1w", "--out", str(out)], "longer than the data"),
        (["--out", str(tmp_path / "map.png" / "x.png")], "cannot create folder"),
    ]
    for argv, message in cases:
        code = main([*base, *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (argv, err)
    assert (
        main(
            ["map", "--datadir", str(datadir), "--pair", "ETH/USDT:USDT", "--no-progress", "--out", str(out)]
        )
        == 2
    )
    assert "ETH/USDT:USDT" in capsys.readouterr().err
