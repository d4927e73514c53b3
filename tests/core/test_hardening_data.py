"""Issue #15: plausible-looking but wrong auxiliary data (funding in percent, mark at
another scale, taker volume above volume) gives a clear error or a warned, flagged
fallback, never silent garbage."""

import numpy as np
import pandas as pd
import pytest

from liqrisk import DataError, compute_features
from liqrisk.core.align import funding_at_close
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def market():
    return random_market(600, seed=13)


def _run(m, **over):
    kw = {"open_interest": m["open_interest"], "funding_rate": m["funding_rate"], "mark": m["mark"], "pair": PAIR}
    return compute_features(over.pop("ohlcv", m["ohlcv"]), **(kw | over))


def _warnings(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


# Funding ----------------------------------------------------------------------------------
@pytest.mark.parametrize("scale", [100.0, 100.0 * 50])  # percent; percent of a hot market
def test_funding_in_percent_is_the_funding_fallback_with_one_warning(market, caplog, scale):
    rates = np.abs(market["funding_rate"]["funding_rate"]) + 0.0001
    pct = market["funding_rate"].assign(funding_rate=rates * scale)
    got = _run(market, funding_rate=pct)
    pd.testing.assert_frame_equal(got, _run(market, funding_rate=pct))
    # Judged from the third settlement on (known at its close, 8h + 5m after the first).
    third = int(np.searchsorted(market["ohlcv"]["date"], pct["date"].iloc[2] + pd.Timedelta("8h") - pd.Timedelta("5m")))
    assert (got["liq_funding_fallback"].iloc[third:] == 1).all()
    assert (got["liq_funding_fallback"].iloc[96:third] == 0).all()
    assert len(_warnings(caplog, "are these percent")) == 1
    at_close = funding_at_close(market["ohlcv"]["date"], pct, timeframe="5m", max_staleness="12h")
    assert np.isnan(at_close[third:]).all()


def test_the_percent_check_is_causal(market):
    """Percent-like rows later in the frame never change the rows before them."""
    fr = market["funding_rate"].copy()
    fr.loc[fr.index[2:], "funding_rate"] = 0.05
    base = _run(market)
    moved = _run(market, funding_rate=fr)
    t = int(np.searchsorted(market["ohlcv"]["date"], fr["date"].iloc[2] + pd.Timedelta("8h") - pd.Timedelta("5m")))
    pd.testing.assert_frame_equal(moved.iloc[:t], base.iloc[:t])
    assert (moved["liq_funding_fallback"].iloc[-1] == 1) and t > 200


@pytest.mark.parametrize("median", [0.0001, 0.001, 0.0049])
def test_plausible_funding_is_used(market, caplog, median):
    rates = np.full(len(market["funding_rate"]), median)
    rates[::7] = 0.02  # a few extreme settlements do not move the median
    out = _run(market, funding_rate=market["funding_rate"].assign(funding_rate=rates))
    assert (out["liq_funding_fallback"].iloc[200:] == 0).all()
    assert not _warnings(caplog, "percent")


# Mark -------------------------------------------------------------------------------------
def _shift_dates(frame, by):
    return frame.assign(date=frame["date"] + pd.Timedelta(by))


@pytest.mark.parametrize("broken", [
    lambda mk: mk.assign(**{c: mk[c] * 1000 for c in ("open", "high", "low", "close")}),  # 1000x contract
    lambda mk: mk.assign(**{c: mk[c] / 100 for c in ("open", "high", "low", "close")}),
    lambda mk: mk.assign(**{c: mk[c] * 1.08 for c in ("open", "high", "low", "close")}),  # another pair's level
    lambda mk: mk.drop(columns="close").assign(high=mk["high"] * 1000, low=mk["low"] * 1000),
])
def test_mark_at_another_scale_is_not_used_and_warned_once(market, caplog, broken):
    got = _run(market, mark=broken(market["mark"]))
    pd.testing.assert_frame_equal(got, _run(market, mark=None))
    _run(market, mark=broken(market["mark"]))
    assert len(_warnings(caplog, "from the last-price close")) == 1


def test_mark_shifted_in_time_is_warned(caplog):
    # A volatile market: marks a day late are far from the candles' closes.
    m = random_market(2000, seed=3, vol_per_year=3.0)
    _run(m, mark=_shift_dates(m["mark"], "1D"))
    assert len(_warnings(caplog, "from the last-price close")) == 1


def test_plausible_mark_is_used(market, caplog):
    basis = market["mark"].assign(**{c: market["mark"][c] * 1.004 for c in ("open", "high", "low", "close")})
    assert not _run(market, mark=basis).equals(_run(market, mark=None))
    assert not _warnings(caplog, "last-price close")


@pytest.mark.parametrize("drop", [["high"], ["low"], ["high", "low"]])
def test_mark_without_high_or_low_raises(market, drop):
    with pytest.raises(DataError, match=r"mark needs 'high' and 'low'.*mark=None"):
        _run(market, mark=market["mark"].drop(columns=drop))


def test_use_mark_false_ignores_even_a_broken_mark(market):
    out = _run(market, mark=market["mark"][["date", "close"]], config={"use_mark": False})
    pd.testing.assert_frame_equal(out, _run(market, mark=None))


# Taker buy volume ---------------------------------------------------------------------------
@pytest.mark.parametrize(("taker", "match"), [
    (lambda o: -o["volume"] * 0.1, "taker_buy_volume.*row 0"),
    (lambda o: o["volume"] * o["close"] * 0.5, "taker_buy_volume.*/ close"),  # quote, not base
    (lambda o: o["volume"].where(o.index != 7, o["volume"] * 1.5), "row 7"),
])
def test_impossible_taker_buy_volume_raises(market, taker, match):
    ohlcv = market["ohlcv"].assign(taker_buy_volume=taker(market["ohlcv"]))
    with pytest.raises(DataError, match=match):
        _run(market, ohlcv=ohlcv)


def test_taker_rounding_and_missing_values_are_accepted(market):
    o = market["ohlcv"]
    taker = (o["volume"] * 0.5).where(o.index % 5 != 0, o["volume"] * 1.005)  # 0.5% over: feed rounding
    taker = taker.where(o.index != 3, np.nan)
    out = _run(market, ohlcv=o.assign(taker_buy_volume=taker, volume=o["volume"].where(o.index != 4, 0.0)))
    assert out["liq_long_share"].between(0, 1).all()
