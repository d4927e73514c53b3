"""Issue #15: integer epoch dates in seconds, ms, µs or ns give the same features.

pandas reads bare integers as nanoseconds, so ccxt's millisecond timestamps became
dates in January 1970 and silently misaligned OI and funding with the candles.
"""

import numpy as np
import pandas as pd
import pytest

from liqrisk import DataError, compute_features
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"
UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


@pytest.fixture(scope="module")
def market():
    return random_market(400, seed=7)


def _as_epoch(frame: pd.DataFrame, unit: str, dtype=np.int64) -> pd.DataFrame:
    out = frame.copy()
    out["date"] = (frame["date"].dt.as_unit("ns").astype("int64") // UNITS[unit]).astype(dtype)
    return out


def _features(m, **frames):
    kw = {k: m[k] for k in ("open_interest", "funding_rate", "mark")} | frames
    return compute_features(kw.pop("ohlcv", m["ohlcv"]), pair=PAIR, **kw)


@pytest.mark.parametrize("unit", list(UNITS))
@pytest.mark.parametrize("which", ["ohlcv", "open_interest", "funding_rate", "mark", "all"])
def test_each_epoch_unit_gives_identical_features(market, unit, which):
    want = _features(market)
    names = ["ohlcv", "open_interest", "funding_rate", "mark"] if which == "all" else [which]
    got = _features(market, **{k: _as_epoch(market[k], unit) for k in names})
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("unit", ["s", "ms"])
def test_float_epochs_work_too(market, unit):
    got = _features(market, ohlcv=_as_epoch(market["ohlcv"], unit, np.float64),
                    open_interest=_as_epoch(market["open_interest"], unit, np.float64))
    pd.testing.assert_frame_equal(got, _features(market), check_exact=True)


@pytest.mark.parametrize(("dates", "match"), [
    ([1.7e12, np.nan], "missing"),
    ([1.7e12, np.inf], "date"),
    ([5e10, 5.0001e10], "2262"),  # seconds past the year 2262 do not fit int64 ns
])
def test_unusable_epochs_raise(market, dates, match):
    ohlcv = market["ohlcv"].iloc[:2].assign(date=dates)
    with pytest.raises(DataError, match=match):
        compute_features(ohlcv, pair=PAIR)
