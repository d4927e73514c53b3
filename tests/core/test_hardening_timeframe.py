"""Issue #15: the candles' spacing must match ``timeframe``, and ``timeframe`` must be
one freqtrade knows. 5m candles called "1h" made row t use OI known up to 55 minutes
after its close (lookahead); "7m" was accepted."""

import numpy as np
import pandas as pd
import pytest

from liqrisk import ConfigError, DataError, compute_features, required_startup_candles
from liqrisk._util import CANDLE_TIMEFRAMES, timeframe_to_ns
from liqrisk.core.align import funding_at_close
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"


def _run(m, timeframe):
    return compute_features(m["ohlcv"], open_interest=m["open_interest"], funding_rate=m["funding_rate"],
                            pair=PAIR, timeframe=timeframe)


@pytest.mark.parametrize(("spacing", "timeframe"), [("5m", "1h"), ("5m", "1m"), ("1h", "5m"), ("1h", "4h"),
                                                    ("1d", "1h"), ("15m", "5m")])
def test_spacing_other_than_timeframe_raises_naming_both(spacing, timeframe):
    m = random_market(50, seed=1, timeframe=spacing)
    with pytest.raises(DataError, match=rf"{spacing} apart.*timeframe='{timeframe}'.*timeframe='{spacing}'"):
        _run(m, timeframe)


@pytest.mark.parametrize("timeframe", ["7m", "2m", "90s", "1s", "5 minutes", "1y", "", None])
def test_timeframes_freqtrade_does_not_know_raise(timeframe):
    m = random_market(20, seed=1)
    with pytest.raises(ConfigError, match="timeframe"):
        _run(m, timeframe)
    with pytest.raises(ConfigError, match="timeframe"):
        required_startup_candles(None, timeframe)


def test_monthly_candles_are_refused_with_the_reason():
    m = random_market(3, seed=1)
    with pytest.raises(ConfigError, match="months have no fixed length"):
        _run(m, "1M")


def test_gaps_do_not_matter_the_most_common_spacing_decides():
    m = random_market(300, seed=2)
    drop = [*range(10, 30), *range(100, 103), 200, 250]  # a long gap and short ones
    gappy = {k: m[k].drop(index=drop) if k != "funding_rate" else m[k] for k in m}
    assert len(_run(gappy, "5m")) == 300 - len(drop)


def test_a_tie_accepts_the_timeframe_if_it_is_one_of_the_most_common_spacings():
    dates = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:05", "2024-01-01 00:15"], utc=True)  # 5m, 10m
    ohlcv = pd.DataFrame({"date": dates, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    assert len(compute_features(ohlcv, timeframe="5m", pair="BTC/USDT:USDT")) == 3


@pytest.mark.parametrize("timeframe", ["5m", "1h", "1d"])
def test_fewer_than_two_candles_are_not_checked(timeframe):
    m = random_market(1, seed=1)  # one 5m candle
    assert len(_run(m, timeframe)) == 1
    assert len(compute_features(m["ohlcv"].iloc[:0], timeframe=timeframe, pair="BTC/USDT:USDT")) == 0


def test_funding_at_close_checks_the_spacing_too():
    m = random_market(50, seed=1)
    with pytest.raises(DataError, match="timeframe='1h'"):
        funding_at_close(m["ohlcv"]["date"], m["funding_rate"], timeframe="1h", max_staleness="12h")
    got = funding_at_close(m["ohlcv"]["date"], m["funding_rate"], timeframe="5m", max_staleness="12h")
    assert np.isfinite(got).any()


def test_the_list_is_freqtrades():
    """Every listed timeframe has the length ccxt (freqtrade's parser) gives it, and
    Binance futures offer all of them."""
    ccxt = pytest.importorskip("ccxt")
    for tf in CANDLE_TIMEFRAMES[:-1]:
        assert timeframe_to_ns(tf) == ccxt.Exchange.parse_timeframe(tf) * 10**9, tf
    offered = set(ccxt.binanceusdm().timeframes)
    assert set(CANDLE_TIMEFRAMES) <= offered
