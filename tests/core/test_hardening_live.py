"""Issue #15: LiveFeatures refuses the frames compute_features refuses."""

import numpy as np
import pandas as pd
import pytest

from liqrisk import ConfigError, DataError, compute_features
from liqrisk.core.live import LiveFeatures
from liqrisk.core.synthetic import random_market

PAIR = "BTC/USDT:USDT"
N = 2000
M = random_market(N + 1, seed=31)
M["ohlcv"]["taker_buy_volume"] = M["ohlcv"]["volume"] * np.linspace(0.3, 0.7, N + 1)
CLOSE = dict(check_exact=False, rtol=1e-9, atol=1e-3)


def _frames(upto: int) -> dict:
    end = M["ohlcv"]["date"].iloc[upto - 1]
    out = {k: M[k][M[k]["date"] <= end] for k in ("open_interest", "funding_rate", "mark")}
    out["ohlcv"] = M["ohlcv"].iloc[:upto]
    return out


def _batch(frames: dict) -> pd.DataFrame:
    return compute_features(frames["ohlcv"], pair=PAIR, **{k: v for k, v in frames.items() if k != "ohlcv"})


def _update(live: LiveFeatures, frames: dict) -> pd.DataFrame:
    return live.update(frames["ohlcv"], **{k: v for k, v in frames.items() if k != "ohlcv"})


def _late(frames: dict, what: str, depth: int) -> dict:
    """``frames`` as a bot saw them before the row ``depth`` candles back arrived (or was revised)."""
    out = dict(frames)
    date = frames["ohlcv"]["date"].iloc[-depth]
    if what == "taker_buy_volume":
        ohlcv = frames["ohlcv"].copy()
        ohlcv.loc[ohlcv.index[-depth], "taker_buy_volume"] *= 0.5
        out["ohlcv"] = ohlcv
    elif what == "oi_revised":
        oi = frames["open_interest"].copy()
        oi.loc[oi["date"] == date, "open_interest_value"] *= 1.01
        out["open_interest"] = oi
    else:
        frame = frames[what]
        row = frame.index[frame["date"] <= date][-1]  # funding: the settlement before that candle
        out[what] = frame.drop(index=row)
    return out


@pytest.mark.parametrize(("bad", "match"), [
    (lambda o: pd.concat([o, o.iloc[[-1]]]), "duplicate"),
    (lambda o: pd.concat([o, o.iloc[[-5]].set_axis([o.index[-1] + 1])]), "not sorted"),
    (lambda o: pd.concat([o, o.iloc[[-1]].assign(date=o["date"].iloc[-1] - pd.Timedelta("1min"))]), "not sorted"),
    (lambda o: o.assign(close=o["close"].astype(object).where(o.index != o.index[-1], "n/a")), "close"),
    (lambda o: o.drop(columns="volume"), "volume"),
])
def test_live_refuses_what_compute_features_refuses(bad, match):
    frames = _frames(300)
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    _update(live, frames)
    wrong = dict(frames, ohlcv=bad(frames["ohlcv"]))
    with pytest.raises(DataError, match=match):
        _batch(wrong)
    with pytest.raises(DataError, match=match):
        _update(live, wrong)
    good = _frames(301)  # and it carries on afterwards
    pd.testing.assert_frame_equal(_update(live, good), _batch(good), **CLOSE)


def test_live_checks_the_timeframe_like_compute_features():
    with pytest.raises(ConfigError, match="7m"):
        LiveFeatures(pair=PAIR, timeframe="7m")
    live = LiveFeatures(pair=PAIR, timeframe="1h")
    with pytest.raises(DataError, match="5m apart"):
        _update(live, _frames(100))
