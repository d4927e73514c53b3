"""The same-candle term from OI's own high/low within a candle (``intra_oi_range``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqrisk import LiveFeatures, compute_features
from liqrisk.core.synthetic import random_market

EST = ["liq_long_est_usd_1w", "liq_short_est_usd_1w"]


def _market(n=600, seed=3, swing=0.01):
    m = random_market(n, seed=seed)
    oi = m["open_interest"].copy()
    rng = np.random.default_rng(seed)
    value = oi["open_interest_value"].to_numpy()
    oi["open_interest_high"] = value * (1 + swing * rng.random(len(oi)))
    oi["open_interest_low"] = value * (1 - swing * rng.random(len(oi)))
    return m, oi


def test_range_raises_same_candle_estimate_and_off_switch_is_exact():
    m, oi = _market()
    base = compute_features(m["ohlcv"], open_interest=m["open_interest"], config={"intra_oi_range": 0.0}, pair="BTC/USDT:USDT")
    ignored = compute_features(m["ohlcv"], open_interest=oi, config={"intra_oi_range": 0.0}, pair="BTC/USDT:USDT")
    with_range = compute_features(m["ohlcv"], open_interest=oi, config={"intra_oi_range": 4.0}, pair="BTC/USDT:USDT")
    np.testing.assert_array_equal(base[EST].to_numpy(), ignored[EST].to_numpy())
    assert (with_range[EST].to_numpy() >= base[EST].to_numpy() - 1e-9).all()
    assert (with_range[EST].to_numpy() > base[EST].to_numpy() + 1e-6).any()


@settings(max_examples=15, deadline=None)
@given(cut=st.integers(200, 550), scale=st.floats(1.5, 50.0))
def test_no_lookahead_through_a_later_oi_range(cut, scale):
    m, oi = _market()
    before = compute_features(m["ohlcv"], open_interest=oi, pair="BTC/USDT:USDT")
    later = oi.copy()
    later.loc[cut:, "open_interest_high"] *= scale  # rows from candle `cut` on change
    after = compute_features(m["ohlcv"], open_interest=later, pair="BTC/USDT:USDT")
    np.testing.assert_array_equal(before[EST].to_numpy()[:cut], after[EST].to_numpy()[:cut])


def test_range_of_a_coarser_oi_timeframe_is_not_used():
    # A 1h OI row's high/low is not known at a 5m candle's close inside that hour.
    m, oi = _market()
    coarse = oi.iloc[::12].reset_index(drop=True)
    a = compute_features(m["ohlcv"], open_interest=coarse, config={"intra_oi_range": 0.0}, pair="BTC/USDT:USDT")
    b = compute_features(m["ohlcv"], open_interest=coarse, config={"intra_oi_range": 16.0}, pair="BTC/USDT:USDT")
    np.testing.assert_array_equal(a[EST].to_numpy(), b[EST].to_numpy())


@pytest.mark.parametrize("step", [1, 7])
def test_live_steps_equal_batch_with_oi_range(step):
    m, oi = _market(n=500)
    live = LiveFeatures(pair="BTC/USDT:USDT", timeframe="5m")
    for end in [*range(300, 500, step), 500]:
        got = live.update(m["ohlcv"].iloc[:end], open_interest=oi[oi["date"] < m["ohlcv"]["date"].iloc[end - 1]
                                                                    + np.timedelta64(1, "s")])
    want = compute_features(m["ohlcv"], open_interest=oi, pair="BTC/USDT:USDT")
    np.testing.assert_allclose(got[EST].to_numpy()[-50:], want[EST].to_numpy()[-50:], rtol=1e-9, atol=1e-6)
