"""The liquidation map: per-tier breakdown of one heatmap row."""

import numpy as np
import pandas as pd
import pytest

from liqrisk import DataError, compute_features, liquidation_heatmap
from liqrisk.core.grids import DEFAULT_SPAN, liquidation_map
from liqrisk.core.synthetic import random_market

CFG = {"windows": ["6h", "1d"], "tier_half_life": ["6h", "12h", None, None, "1d"]}


@pytest.fixture(scope="module")
def market():
    m = random_market(900, seed=11)
    return m["ohlcv"], {k: v for k, v in m.items() if k != "ohlcv"}


@pytest.mark.parametrize(("row", "window"), [(0, "1d"), (150, "6h"), (600, "1d"), (899, "6h")])
def test_tiers_sum_to_the_heatmap_row(market, row, window):
    ohlcv, kw = market
    at = ohlcv["date"].iloc[row]
    lm = liquidation_map(ohlcv, config=CFG, window=window, at=at, price_bins=120, **kw, pair="BTC/USDT:USDT")
    hm = liquidation_heatmap(
        ohlcv,
        config=CFG,
        window=window,
        start=at,
        end=at,
        price_bins=120,
        price_range=(lm.price_edges[0], lm.price_edges[-1]),
        **kw,pair="BTC/USDT:USDT"
    )
    assert lm.usd.shape == (2, 5, 120) and (lm.usd >= 0).all()
    np.testing.assert_allclose(lm.usd[0].sum(axis=0), hm.long_usd[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(lm.usd[1].sum(axis=0), hm.short_usd[0], rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(lm.price_edges, hm.price_edges)
    assert lm.at == at and lm.close_time == at + pd.Timedelta("5m")


def test_full_grid_matches_the_outstanding_features(market):
    ohlcv, kw = market
    feats = compute_features(ohlcv, config=CFG, **kw, pair="BTC/USDT:USDT")
    lm = liquidation_map(
        ohlcv,
        config=CFG,
        window="1d",
        at=ohlcv["date"].iloc[700],
        price_bins=50,
        price_range=(1.0, 1e7),
        **kw,pair="BTC/USDT:USDT"
    )
    np.testing.assert_allclose(lm.long_usd.sum(), feats["liq_long_outstanding_usd_1d"].iloc[700], rtol=1e-9)
    np.testing.assert_allclose(lm.short_usd.sum(), feats["liq_short_outstanding_usd_1d"].iloc[700], rtol=1e-9)


def test_defaults_curves_and_times(market):
    ohlcv, kw = market
    lm = liquidation_map(ohlcv, **kw, pair="BTC/USDT:USDT")  # last candle, first default window, close ± 20%
    assert lm.at == ohlcv["date"].iloc[-1] and lm.window == "12h"
    close = ohlcv["close"].iloc[-1]
    np.testing.assert_allclose(
        [lm.price_edges[0], lm.price_edges[-1]], [close * (1 - DEFAULT_SPAN), close * (1 + DEFAULT_SPAN)]
    )
    assert lm.price == close
    # A time inside a candle picks that candle (its close is the moment of the map).
    inside = liquidation_map(ohlcv, at=ohlcv["date"].iloc[300] + pd.Timedelta("3m"), **kw, pair="BTC/USDT:USDT")
    assert inside.at == ohlcv["date"].iloc[300]
    np.testing.assert_allclose(lm.cumulative_long_usd[0], lm.long_usd.sum())
    np.testing.assert_allclose(lm.cumulative_short_usd[-1], lm.short_usd.sum())
    assert (np.diff(lm.cumulative_long_usd) <= 1e-6).all() and (
        np.diff(lm.cumulative_short_usd) >= -1e-6
    ).all()
    # Long levels sit below the price, short levels above.
    assert lm.long_usd[lm.price_centers > lm.price].sum() == 0
    assert lm.short_usd[lm.price_centers < lm.price].sum() == 0
    # Tiers are the configured ones; a higher leverage sits closer to the price.
    np.testing.assert_array_equal(lm.leverage, [5, 10, 25, 50, 100])
    mean_dist = [
        (lm.usd[0, k] * np.abs(lm.price_centers - lm.price)).sum() / lm.usd[0, k].sum() for k in range(5)
    ]
    assert mean_dist == sorted(mean_dist, reverse=True)


def test_bad_input(market):
    ohlcv, kw = market
    with pytest.raises(DataError, match="before the first candle"):
        liquidation_map(ohlcv, at="2000-01-01", **kw, pair="BTC/USDT:USDT")
    with pytest.raises(DataError, match="price_range"):
        liquidation_map(ohlcv, price_range=(10, 5), **kw, pair="BTC/USDT:USDT")
    with pytest.raises(DataError, match="price_bins"):
        liquidation_map(ohlcv, price_bins=0, **kw, pair="BTC/USDT:USDT")
    with pytest.raises(DataError, match="no candles"):
        liquidation_map(ohlcv.iloc[:0], **kw, pair="BTC/USDT:USDT")
