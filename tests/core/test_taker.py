"""The archive's 5-minute taker ratio as each candle's taker buy share (``liqrisk.core.taker``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from liqrisk import compute_features
from liqrisk.core.synthetic import random_market
from liqrisk.core.taker import RATIO_COLUMN, taker_buy_share, with_taker_volume

PAIR = "BTC/USDT:USDT"


def _metrics(start="2024-01-01 00:05", n=48, seed=0):
    """Rows D = 00:05, 00:10, ...: row D covers [D - 5m, D) and is known at D."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq="5min", tz="UTC"),
                         RATIO_COLUMN: np.exp(rng.normal(0, 0.3, n))})


def test_5m_candle_takes_its_own_slice():
    m = _metrics()
    dates = pd.date_range("2024-01-01", periods=48, freq="5min", tz="UTC")
    share = taker_buy_share(dates, "5m", m)
    r = m[RATIO_COLUMN].to_numpy()
    np.testing.assert_allclose(share, r / (1 + r), rtol=1e-15)


def test_no_lookahead_rows_after_the_close_change_nothing():
    m = _metrics()
    dates = pd.date_range("2024-01-01", periods=48, freq="5min", tz="UTC")
    base = taker_buy_share(dates, "5m", m)
    later = m.copy()
    later.loc[20:, RATIO_COLUMN] = 100.0  # rows D >= 01:45: candles opening from 01:40 on
    moved = taker_buy_share(dates, "5m", later)
    np.testing.assert_array_equal(moved[:20], base[:20])
    assert (moved[20:] != base[20:]).all()


def test_hour_is_the_volume_weighted_share_of_its_slices():
    m = _metrics()
    hours = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    r = m[RATIO_COLUMN].to_numpy()
    s = r / (1 + r)
    equal = taker_buy_share(hours, "1h", m)
    np.testing.assert_allclose(equal[:4], [s[0:12].mean(), s[12:24].mean(), s[24:36].mean(), s[36:48].mean()])
    v = np.arange(1, 49, dtype=float)
    five = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=48, freq="5min", tz="UTC"), "volume": v})
    weighted = taker_buy_share(hours, "1h", m, volume_5m=five)
    want = [(s[i:i + 12] * v[i:i + 12]).sum() / v[i:i + 12].sum() for i in (0, 12, 24, 36)]
    np.testing.assert_allclose(weighted, want, rtol=1e-14)


def test_thin_coverage_and_fine_candles_are_unknown():
    m = _metrics().drop(index=range(0, 7))  # the first hour keeps 5 of its 12 slices
    hours = pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
    share = taker_buy_share(hours, "1h", m)
    assert np.isnan(share[0]) and np.isfinite(share[1])
    minutes = pd.date_range("2024-01-01", periods=10, freq="1min", tz="UTC")
    assert np.isnan(taker_buy_share(minutes, "1m", _metrics())).all()
    assert np.isnan(taker_buy_share(hours, "1h", None)).all()


def test_engine_splits_by_the_archive_share():
    mk = random_market(200, seed=4)
    ohlcv = mk["ohlcv"]
    m = _metrics(n=200, seed=9)
    share = taker_buy_share(ohlcv["date"], "5m", m)
    assert np.isfinite(share).all()
    with_taker = with_taker_volume(ohlcv, share)
    assert "taker_buy_volume" not in ohlcv.columns
    feats = compute_features(with_taker, open_interest=mk["open_interest"], pair=PAIR)
    # Without funding the long share is the taker share itself.
    np.testing.assert_allclose(feats["liq_long_share"].to_numpy(), share, rtol=1e-12)
    # Unknown shares fall back to the candle-shape split candle by candle.
    share[50:60] = np.nan
    part = compute_features(with_taker_volume(ohlcv, share), open_interest=mk["open_interest"], pair=PAIR)
    plain = compute_features(ohlcv, open_interest=mk["open_interest"], pair=PAIR)
    np.testing.assert_array_equal(part["liq_long_share"].to_numpy()[50:60], plain["liq_long_share"].to_numpy()[50:60])
