"""Turnover: re-opened positions seed new levels (``turnover_per_day``), and some are
liquidated by the candle they open in (``intra_turnover``). Rules and USD by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from liqrisk import compute_features, liquidation_price
from liqrisk.core.align import prepare
from liqrisk.core.features import run_engine
from liqrisk.core.model import liquidated_share

PAIR = "BTC/USDT:USDT"
# BTC's first bracket (MMR 0.4%): a 10x long is liquidated 9.64% below its entry.
D10 = 1 - liquidation_price(100_000, 10, side="long", maintenance_margin_rate=0.004) / 100_000


def _sampled_share(move, distances, weights, spread, points=200_001):
    """Plain check: sample each tier's distance log-uniformly and count those within the move."""
    u = (np.arange(points) + 0.5) / points
    total = 0.0
    for d, w in zip(distances, weights, strict=True):
        grid = np.exp(math.log(d / spread) + u * 2 * math.log(spread))
        total += w * np.mean(grid <= move)
    return total


@pytest.mark.parametrize("move", [0.0, 0.001, 0.004, 0.01, 0.03, 0.08, 0.2, 0.5])
@pytest.mark.parametrize("spread", [1.5, 3.0, 10.0])
def test_share_matches_sampled_distances(move, spread):
    distances, weights = np.array([0.19, 0.096, 0.036, 0.016, 0.006]), np.array([0.3, 0.3, 0.2, 0.12, 0.08])
    got = liquidated_share(np.array([move]), distances, weights, spread)[0]
    assert got == pytest.approx(_sampled_share(move, distances, weights, spread), abs=2e-5)


def test_spread_one_is_the_exact_tier_step():
    moves = np.array([D10 * 0.999, D10 * 1.001])
    np.testing.assert_array_equal(liquidated_share(moves, np.array([D10]), np.array([1.0]), 1.0), [0.0, 1.0])


@given(moves=st.lists(st.floats(0, 1), min_size=2, max_size=30), spread=st.floats(1.0, 20.0))
def test_share_is_bounded_and_non_decreasing(moves, spread):
    moves = np.sort(np.array(moves))
    share = liquidated_share(moves, np.array([0.19, 0.036, 0.006]), np.array([0.5, 0.3, 0.2]), spread)
    assert np.all((share >= 0) & (share <= 1 + 1e-12))
    assert np.all(np.diff(share) >= -1e-12)


def _two_days(low_move=0.10, high_move=0.0, oi=1e6):
    """Two daily candles; the second opens at 100,000 with OI ``oi`` known at its open
    and no net OI change, so it seeds no levels: its estimate is the same-candle term only."""
    dates = pd.date_range("2024-03-01", periods=2, freq="1D", tz="UTC")
    o = 100_000.0
    ohlcv = pd.DataFrame({"date": dates, "open": [o, o], "close": [o, o], "high": [o, o * (1 + high_move)],
                          "low": [o, o * (1 - low_move)], "volume": [0.0, 0.0]})
    oi_frame = pd.DataFrame({"date": dates, "open_interest_value": [oi, oi]})
    return ohlcv, oi_frame


CFG = {"windows": ["1w"], "leverage_tiers": [10.0], "leverage_weights": [1.0], "intra_spread": 1.0, "use_mark": False,
       "intra_turnover": 0.0, "intra_oi_range": 0.0, "intra_path": 0.0, "turnover_per_day": 0.0, "half_life_10x": None,
       "liquidatable_share": 1.0}


def test_hand_example_daily_candle():
    # Turnover 0.5/day on a daily candle: 0.5 × 1e6 re-opened at the open, half of it long.
    # A 10% dip reaches the 10x long's liquidation (9.64% away); shorts are untouched.
    ohlcv, oi = _two_days(low_move=0.10)
    f = compute_features(ohlcv, open_interest=oi, pair=PAIR, timeframe="1d", config={**CFG, "intra_turnover": 0.5})
    assert f["liq_long_est_usd_1w"].iloc[1] == pytest.approx(0.5 * 1e6 * 0.5, rel=1e-12)
    assert f["liq_short_est_usd_1w"].iloc[1] == 0.0
    # A dip short of the liquidation distance liquidates nothing (spread 1: exact tier distance).
    ohlcv, oi = _two_days(low_move=0.09)
    f = compute_features(ohlcv, open_interest=oi, pair=PAIR, timeframe="1d", config={**CFG, "intra_turnover": 0.5})
    assert f["liq_long_est_usd_1w"].iloc[1] == 0.0


def test_scaled_by_candle_length_and_liquidatable_share():
    ohlcv, oi = _two_days(high_move=0.12)
    cfg = {**CFG, "intra_turnover": 0.5, "liquidatable_share": 0.4}
    day = compute_features(ohlcv, open_interest=oi, pair=PAIR, timeframe="1d", config=cfg)
    hour = ohlcv.assign(date=pd.date_range("2024-03-01", periods=2, freq="1h", tz="UTC"))
    oi_h = oi.assign(date=hour["date"])
    hourly = compute_features(hour, open_interest=oi_h, pair=PAIR, timeframe="1h", config=cfg)
    assert day["liq_short_est_usd_1w"].iloc[1] == pytest.approx(0.5 * 1e6 * 0.4 * 0.5, rel=1e-12)
    assert hourly["liq_short_est_usd_1w"].iloc[1] == pytest.approx(day["liq_short_est_usd_1w"].iloc[1] / 24, rel=1e-12)


def test_off_at_zero_and_without_oi():
    ohlcv, oi = _two_days(low_move=0.10)
    off = compute_features(ohlcv, open_interest=oi, pair=PAIR, timeframe="1d", config=CFG)
    assert off["liq_long_est_usd_1w"].iloc[1] == 0.0
    no_oi = compute_features(ohlcv, pair=PAIR, timeframe="1d", config={**CFG, "intra_turnover": 0.5})
    assert no_oi["liq_long_est_usd_1w"].iloc[1] == 0.0  # volume proxy: no OI level to turn over
    assert no_oi["liq_oi_fallback"].iloc[1] == 1.0


def test_turnover_reseeds_at_flat_open_interest():
    # Flat OI: no net change, yet 0.25/day × 1/24 of the OI is closed and re-opened every hour.
    n = 30
    dates = pd.date_range("2024-03-01", periods=n, freq="1h", tz="UTC")
    close = 100.0 * np.exp(np.cumsum(np.full(n, 0.001)))
    ohlcv = pd.DataFrame({"date": dates, "open": close, "high": close * 1.001, "low": close * 0.999,
                          "close": close, "volume": 1.0})
    oi = pd.DataFrame({"date": dates, "open_interest_value": 1e6})
    cfg = {"windows": ["1d"], "turnover_per_day": 0.25, "liquidatable_share": 0.5}
    inputs, *_ = prepare(ohlcv, open_interest=oi, pair=PAIR, timeframe="1h", config=cfg)
    known = inputs.oi_fallback == 0
    assert known[1:].all()
    np.testing.assert_allclose(inputs.seed_usd[known].sum(axis=1), 0.25 / 24 * 1e6 * 0.5, rtol=1e-12)
    np.testing.assert_allclose(inputs.close_frac[known], 0.25 / 24, rtol=1e-12)
    # Without turnover the flat OI seeds nothing.
    quiet, *_ = prepare(ohlcv, open_interest=oi, pair=PAIR, timeframe="1h", config={"windows": ["1d"], "turnover_per_day": 0.0})
    assert quiet.seed_usd[known].sum() == 0.0
    # The book then holds the churned share of recent entries: outstanding USD is conserved.
    res = run_engine(ohlcv, open_interest=oi, pair=PAIR, timeframe="1h", config=cfg)
    led = res.ledger
    flows = led["consumed_1d"] + led["expired_1d"] + led["closed_1d"] + led["decayed_1d"]
    np.testing.assert_allclose(led["seeded_1d"].cumsum(), (flows.cumsum() + led["outstanding_1d"]), rtol=1e-9)


def test_hand_example_path_retrace():
    # intra_path 0.5: half of the 0.25e6 re-opened per side is entered at the open, half at
    # the extreme against its side. A 10% dip that closes back at the open liquidates the
    # open-entered 10x longs (9.64% away) and the shorts sold at the low, whose retrace to
    # the close is 100/90 − 1 = 11.1%; the longs bought at the high (= close) see no move.
    ohlcv, oi = _two_days(low_move=0.10)
    cfg = {**CFG, "intra_turnover": 0.5, "intra_path": 0.5}
    f = compute_features(ohlcv, open_interest=oi, pair=PAIR, timeframe="1d", config=cfg)
    assert f["liq_long_est_usd_1w"].iloc[1] == pytest.approx(0.5 * 0.25e6, rel=1e-12)
    assert f["liq_short_est_usd_1w"].iloc[1] == pytest.approx(0.5 * 0.25e6, rel=1e-12)
    # An 8% dip: neither the dip nor the 8.7% retrace reaches a 10x level.
    ohlcv, oi = _two_days(low_move=0.08)
    f = compute_features(ohlcv, open_interest=oi, pair=PAIR, timeframe="1d", config=cfg)
    assert f["liq_long_est_usd_1w"].iloc[1] == 0.0
    assert f["liq_short_est_usd_1w"].iloc[1] == 0.0
