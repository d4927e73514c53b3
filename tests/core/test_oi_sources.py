"""OI summed over exchanges (``liqrisk.core.oi_sources``): sums, flags, no lookahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from liqrisk import compute_features
from liqrisk.core.oi_sources import SOURCES_COLUMN, sources_flag, sum_open_interest
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"


def _sources(n=400, seed=5):
    """The same market's OI split over three exchanges (50/30/20%, each with its own wiggle)."""
    m = random_market(n, seed=seed)
    oi = m["open_interest"]
    rng = np.random.default_rng(seed)
    frames = []
    for share in (0.5, 0.3, 0.2):
        value = oi["open_interest_value"].to_numpy() * share * (1 + 0.01 * rng.standard_normal(len(oi)))
        frames.append(pd.DataFrame({"date": oi["date"], "open_interest_value": value}))
    return m, frames


def test_aggregated_oi_is_the_sum_of_its_sources_per_stamp():
    m, frames = _sources()
    summed = sum_open_interest(frames)
    assert len(summed) == len(frames[0])
    assert (summed["date"].to_numpy() == pd.to_datetime(frames[0]["date"]).to_numpy()).all()
    want = sum(f["open_interest_value"].to_numpy() for f in frames)
    np.testing.assert_allclose(summed["open_interest_value"].to_numpy(), want, rtol=1e-15)
    assert (summed[SOURCES_COLUMN] == 7.0).all()
    assert summed.dtypes[SOURCES_COLUMN] == np.float64


def test_a_missing_source_is_flagged_not_zero():
    m, frames = _sources()
    gap = slice(100, 130)
    frames[1] = frames[1].drop(index=range(gap.start, gap.stop))  # bybit misses 30 stamps
    frames[2] = None  # okx has no file at all
    summed = sum_open_interest(frames)
    mask = summed[SOURCES_COLUMN].to_numpy()
    assert set(mask[gap]) == {1.0} and set(np.delete(mask, np.r_[gap])) == {3.0}
    np.testing.assert_allclose(summed["open_interest_value"].to_numpy()[gap],
                               frames[0]["open_interest_value"].to_numpy()[gap], rtol=1e-15)

    feats = compute_features(m["ohlcv"], open_interest=summed, pair=PAIR)
    fallback = feats["liq_oi_fallback"].to_numpy()
    # OI row D is known at D + 5m: candle t's change is row t-1 -> row t. The candles whose
    # two rows hold different sources (t = 100 and t = 130) are not a change in positions.
    assert fallback[100] == 1 and fallback[130] == 1
    assert fallback[101:130].sum() == 0 and fallback[131:].sum() == 0
    flag = sources_flag(m["ohlcv"]["date"], summed, fallback, timeframe="5m")
    assert flag[100] == 0 and flag[130] == 0
    assert set(flag[101:130]) == {1.0} and set(flag[131:]) == {3.0}
    # A zero-filled bybit would have seeded its whole OI as new positions at t = 130.
    zero = summed.assign(**{SOURCES_COLUMN: 3.0})
    naive = compute_features(m["ohlcv"], open_interest=zero, pair=PAIR)
    assert naive["liq_seed_usd"].iloc[130] > 10 * feats["liq_seed_usd"].iloc[130]


def test_summed_frame_with_all_sources_everywhere_equals_the_plain_sum():
    m, frames = _sources()
    summed = sum_open_interest(frames)
    plain = summed.drop(columns=SOURCES_COLUMN)
    a = compute_features(m["ohlcv"], open_interest=summed, pair=PAIR)
    b = compute_features(m["ohlcv"], open_interest=plain, pair=PAIR)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_one_source_is_that_source_bit_for_bit():
    m = random_market(300, seed=2)
    own = m["open_interest"][["date", "open_interest_value"]]
    summed = sum_open_interest([own])
    a = compute_features(m["ohlcv"], open_interest=summed, pair=PAIR)
    b = compute_features(m["ohlcv"], open_interest=own, pair=PAIR)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_coarser_source_is_used_only_once_known():
    # 5m binance + 1h bybit: the summed row D (known at D + 5m) holds bybit's 1h row D_b
    # only from D_b + 1h on (when freqtrade's rule makes it known), never earlier.
    dates = pd.date_range("2024-01-01", periods=48, freq="5min", tz="UTC")
    fast = pd.DataFrame({"date": dates, "open_interest_value": np.full(48, 100.0)})
    hourly = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC"),
                           "open_interest_value": [10.0, 20.0, 30.0]})
    summed = sum_open_interest([fast, hourly]).set_index("date")
    # Row 00:55 is known at 01:00, when bybit's 00:00 row (known at 01:00) is too.
    assert summed.loc["2024-01-01 00:50", SOURCES_COLUMN] == 1.0
    assert summed.loc["2024-01-01 00:55", "open_interest_value"] == 110.0
    assert summed.loc["2024-01-01 01:50", "open_interest_value"] == 110.0
    assert summed.loc["2024-01-01 01:55", "open_interest_value"] == 120.0
    # bybit's last row (02:00, known at 03:00) is overdue once its next was due (04:00).
    assert summed.loc["2024-01-01 03:50", "open_interest_value"] == 130.0
    assert summed.loc["2024-01-01 03:55", "open_interest_value"] == 100.0
    assert summed.loc["2024-01-01 03:55", SOURCES_COLUMN] == 1.0
    assert len(summed) == 48


def test_amount_only_rows_are_priced_at_the_latest_known_close():
    m = random_market(50, seed=1)
    oi = m["open_interest"]
    amount_only = oi[["date", "open_interest_amount"]]
    summed = sum_open_interest([amount_only], price=m["ohlcv"])
    close = m["ohlcv"]["close"].to_numpy()
    # Row D (known at D + 5m) is priced at the close of the candle D (known at D + 5m).
    np.testing.assert_allclose(summed["open_interest_value"].to_numpy(),
                               oi["open_interest_amount"].to_numpy() * close, rtol=1e-15)
    assert sum_open_interest([amount_only]) is None  # no price: nothing to sum


def test_no_source_has_data():
    assert sum_open_interest([None, pd.DataFrame()]) is None
    with pytest.raises(ValueError, match="52"):
        sum_open_interest([None] * 53)


def test_flag_without_sources_column_is_one_where_oi_seeded():
    m = random_market(100, seed=3)
    feats = compute_features(m["ohlcv"], open_interest=m["open_interest"], pair=PAIR)
    flag = sources_flag(m["ohlcv"]["date"], m["open_interest"], feats["liq_oi_fallback"], timeframe="5m")
    np.testing.assert_array_equal(flag, 1.0 - feats["liq_oi_fallback"].to_numpy())
    assert (sources_flag(m["ohlcv"]["date"], None, feats["liq_oi_fallback"], timeframe="5m") == 0).all()
