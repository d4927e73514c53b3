"""Issue #15: LiveFeatures equals compute_features whatever input row of a seen candle
changes (a late or revised OI, funding or mark row, a revised taker volume), at any
depth; and it refuses the frames compute_features refuses."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liqrisk import ConfigError, DataError, compute_features, required_startup_candles
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


def test_the_issue_case_late_oi_row_60_candles_back():
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    _update(live, _late(_frames(N), "open_interest", 60))
    now = _frames(N + 1)
    got = _update(live, now)
    pd.testing.assert_frame_equal(got, _batch(now), **CLOSE)
    assert got["liq_below_nearest_price_1d"].iloc[-1] == _batch(now)["liq_below_nearest_price_1d"].iloc[-1]


@given(what=st.sampled_from(["open_interest", "oi_revised", "funding_rate", "mark", "taker_buy_volume"]),
       depth=st.integers(1, N - 3), extra=st.integers(1, 2))
@settings(max_examples=20)
def test_any_changed_input_of_a_seen_candle_gives_the_batch_result(what, depth, extra):
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    seen = _late(_frames(N - 2), what, depth)
    _update(live, seen)
    now = _frames(N - 2 + extra)
    pd.testing.assert_frame_equal(_update(live, now), _batch(now), **CLOSE)
    # ...and stays equal on the next candle (the difference used to persist).
    after = _frames(N - 1 + extra)
    pd.testing.assert_frame_equal(_update(live, after), _batch(after), **CLOSE)


def test_unchanged_inputs_still_step():
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    for upto in (1500, 1501, 1502, 1510):
        pd.testing.assert_frame_equal(_update(live, _frames(upto)), _batch(_frames(upto)), **CLOSE)
    assert (live.full_runs, live.steps) == (1, 3)


def test_a_rolling_frame_trimmed_at_the_front_still_steps():
    """freqtrade's OI, funding and mark frames drop old rows as the candles do: that is
    lost history, not a revision, and must not force a full run on every candle."""
    size = 1200
    need = required_startup_candles(None, "5m")
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    for end in range(size, N + 1, 97):
        frames = _frames(end)
        start = frames["ohlcv"]["date"].iloc[end - size]
        frames = {k: v[v["date"] >= start - (pd.Timedelta("1D") if k == "funding_rate" else pd.Timedelta(0))]
                  for k, v in frames.items()}
        got = _update(live, frames)
        want = _batch(frames)
        pd.testing.assert_frame_equal(got.iloc[need:], want.iloc[need:], **CLOSE)
    assert live.full_runs == 1


def test_a_late_row_inside_a_rolling_frame_is_still_seen():
    size = 1500
    live = LiveFeatures(pair=PAIR, timeframe="5m")
    frames = _frames(N - 10)
    start = frames["ohlcv"]["date"].iloc[-size]
    cut = {k: v[v["date"] >= start] for k, v in frames.items()}
    _update(live, _late(cut, "open_interest", 300))
    now = {k: v[v["date"] >= frames["ohlcv"]["date"].iloc[-size + 1]] for k, v in _frames(N - 9).items()}
    _update(live, now)
    assert live.full_runs == 2


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
