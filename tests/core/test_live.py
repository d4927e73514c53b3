"""LiveFeatures steps appended candles; it must equal the batch engine on the same data."""

import numpy as np
import pandas as pd
import pytest

from liqrisk import compute_features, required_startup_candles
from liqrisk.core.live import LiveFeatures
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"
CFG = {"windows": ["2h", "6h", "1d"], "tier_half_life": ["1d", "12h", "6h", "3h", "2h"], "intra_turnover": 2.0,
       "turnover_per_day": 3.0}


def _aux(m, upto):
    end = m["ohlcv"]["date"].iloc[upto - 1]
    return {k: m[k][m[k]["date"] <= end] for k in ("open_interest", "funding_rate", "mark")}


def test_growing_frame_equals_batch():
    m = random_market(700, seed=21)
    live = LiveFeatures(pair=PAIR, timeframe="5m", config=CFG)
    for upto in [400, 401, 402, 410, 411, 500, 650, 700]:
        got = live.update(m["ohlcv"].iloc[:upto], **_aux(m, upto))
        want = compute_features(m["ohlcv"].iloc[:upto], pair=PAIR, config=CFG, **_aux(m, upto))
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-3)
    assert live.full_runs == 1 and live.steps == 7


def test_rolling_frame_like_freqtrade():
    """freqtrade's live frame drops its oldest row as a new one arrives."""
    m = random_market(900, seed=22)
    size = 600
    live = LiveFeatures(pair=PAIR, timeframe="5m", config=CFG)
    need = required_startup_candles(CFG, "5m")
    for end in range(size, 900, 37):
        frame = m["ohlcv"].iloc[end - size:end]
        got = live.update(frame, **_aux(m, end))
        want = compute_features(frame, pair=PAIR, config=CFG, **_aux(m, end))
        # Rows with a full window of history in the frame are identical.
        pd.testing.assert_frame_equal(got.iloc[need:], want.iloc[need:], check_exact=False, rtol=1e-9, atol=1e-3)
        assert got.index.equals(frame.index)
    assert live.full_runs == 1


def test_late_oi_or_changed_candle_forces_a_full_run():
    m = random_market(500, seed=23)
    live = LiveFeatures(pair=PAIR, timeframe="5m", config=CFG)
    aux = _aux(m, 400)
    aux["open_interest"] = aux["open_interest"].iloc[:-3]  # the last OI rows are late
    live.update(m["ohlcv"].iloc[:400], **aux)
    got = live.update(m["ohlcv"].iloc[:401], **_aux(m, 401))
    pd.testing.assert_frame_equal(got, compute_features(m["ohlcv"].iloc[:401], pair=PAIR, config=CFG, **_aux(m, 401)),
                                  check_exact=False, rtol=1e-9, atol=1e-3)
    assert live.full_runs == 2
    revised = m["ohlcv"].iloc[:402].copy()
    revised.loc[399, "close"] *= 1.01
    live.update(revised, **_aux(m, 402))
    assert live.full_runs == 3


def test_nan_candles_and_price_jumps_while_live():
    m = random_market(500, seed=24)
    ohlcv = m["ohlcv"].copy()
    ohlcv.loc[450:452, ["open", "high", "low", "close"]] = np.nan
    ohlcv.loc[480:, ["open", "high", "low", "close"]] *= 3.0  # leaves the bucket grid: rebuild
    live = LiveFeatures(pair=PAIR, timeframe="5m", config=CFG)
    for upto in range(440, 500, 5):
        got = live.update(ohlcv.iloc[:upto], **_aux(m, upto))
        want = compute_features(ohlcv.iloc[:upto], pair=PAIR, config=CFG, **_aux(m, upto))
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-3)
    assert live.full_runs >= 2


@pytest.mark.parametrize("oi", [True, False])
def test_no_new_rows_returns_the_same(oi):
    m = random_market(300, seed=25)
    kw = _aux(m, 300) if oi else {}
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    a = live.update(m["ohlcv"], **kw)
    b = live.update(m["ohlcv"], **kw)
    pd.testing.assert_frame_equal(a, b)
    assert live.full_runs == 1
