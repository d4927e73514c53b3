"""Dry-run/live alerts: ``dp.send_msg`` when the price nears a large cluster, rate-limited per pair."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from freqtrade.enums import RunMode

import liqrisk.adapter.report as report_module
from tests.adapter.test_mixin import CONFIG, PAIR, WithMixin, feature_frame

OTHER = "ETH/USDT:USDT"


class FakeDP:
    """The DataProvider surface the mixin uses in dry/live: messages are recorded."""

    def __init__(self, runmode=RunMode.DRY_RUN):
        self.runmode = runmode
        self.sent: list[str] = []

    def send_msg(self, message: str, *, always_send: bool = False) -> None:
        self.sent.append(message)

    def get_pair_dataframe(self, pair, timeframe=None, candle_type=""):
        return pd.DataFrame()  # no OI / funding / mark: the engine's flagged fallback

    def get_funding_rate_timeframe(self):
        return "1h"


@pytest.fixture
def clock(monkeypatch):
    """A controllable time.monotonic for the cooldown (seconds)."""
    now = [1000.0]
    monkeypatch.setattr(report_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def strategy(runmode=RunMode.DRY_RUN):
    strat = WithMixin(dict(CONFIG))
    strat.dp = FakeDP(runmode)
    return strat


def test_alert_when_close_to_a_large_cluster(clock):
    strat = strategy()
    strat._liq_alert(PAIR, feature_frame(below=(99.2, 100.0)))  # 0.8% below, 10% of the side: large
    assert len(strat.dp.sent) == 1
    msg = strat.dp.sent[0]
    assert PAIR in msg and "long-liquidation" in msg and "99.2" in msg and "0.80%" in msg and "(1d)" in msg
    other = strategy()
    other._liq_alert(PAIR, feature_frame(above=(100.9, 100.0)))
    assert len(other.dp.sent) == 1 and "short-liquidation" in other.dp.sent[0]


@pytest.mark.parametrize("frame_kw", [
    {"below": (98.5, 100.0)},   # 1.5% away: beyond liqrisk_alert_dist (1%)
    {"below": (99.5, 5.0)},     # close, but 0.5% of the side: not large (min_share 1%)
    {},                         # no clusters at all
    {"below": (99.5, 100.0), "close": np.nan},  # no usable close
])
def test_no_alert(clock, frame_kw):
    strat = strategy()
    strat._liq_alert(PAIR, feature_frame(**frame_kw))
    assert strat.dp.sent == []


def test_alert_distance_is_the_parameter(clock):
    strat = strategy()
    frame = feature_frame(below=(98.5, 100.0))
    param = strat.liqrisk_alert_dist
    old = param.value
    try:
        param.value = 0.02
        strat._liq_alert(PAIR, frame)
    finally:
        param.value = old
    assert len(strat.dp.sent) == 1


def test_alerts_are_rate_limited_per_pair(clock):
    strat = strategy()
    near = feature_frame(below=(99.2, 100.0))
    strat._liq_alert(PAIR, near)
    clock[0] += 59 * 60  # within the 60-minute cooldown
    strat._liq_alert(PAIR, near)
    assert len(strat.dp.sent) == 1
    strat._liq_alert(OTHER, near)  # another pair has its own cooldown
    assert len(strat.dp.sent) == 2 and OTHER in strat.dp.sent[1]
    clock[0] += 61  # 60 min 1 s after the first alert
    strat._liq_alert(PAIR, near)
    assert len(strat.dp.sent) == 3 and PAIR in strat.dp.sent[2]
    strat.liqrisk_alert_cooldown_min = 0.0  # no cooldown
    strat._liq_alert(PAIR, near)
    assert len(strat.dp.sent) == 4


def test_cooldown_only_counts_sent_alerts(clock):
    strat = strategy()
    strat._liq_alert(PAIR, feature_frame(below=(98.0, 100.0)))  # too far: nothing sent, no cooldown
    clock[0] += 1
    strat._liq_alert(PAIR, feature_frame(below=(99.2, 100.0)))
    assert len(strat.dp.sent) == 1


@pytest.mark.parametrize("runmode, alerts", [(RunMode.DRY_RUN, True), (RunMode.LIVE, True),
                                             (RunMode.BACKTEST, False), (RunMode.HYPEROPT, False)])
def test_populate_alerts_only_in_dry_run_and_live(monkeypatch, runmode, alerts):
    strat = strategy(runmode)
    seen = []
    monkeypatch.setattr(strat, "_liq_alert", lambda pair, frame: seen.append((pair, len(frame))))
    rng = np.random.default_rng(2)
    n = 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    df = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC"), "open": close,
                       "high": close * 1.002, "low": close * 0.998, "close": close, "volume": 10.0})
    out = strat.liqrisk_populate(df, {"pair": PAIR})
    assert seen == ([(PAIR, len(out))] if alerts else [])


def test_dry_run_steps_features_incrementally():
    """In dry-run the mixin keeps a LiveFeatures per pair: each new candle is stepped, not
    recomputed, and the rows a decision reads equal compute_features on the same frame."""
    from liqrisk import compute_features
    from liqrisk.core.synthetic import random_market

    strat = strategy()
    # A spot-style run (no OI/funding from the fake dp): the same path, with the fallback.
    strat.config = {**strat.config, "trading_mode": "spot"}
    size = strat.startup_candle_count + 1  # the last row has a full startup of history
    m = random_market(size + 6, seed=5)
    for end in range(size, size + 6):
        frame = m["ohlcv"].iloc[end - size:end].reset_index(drop=True)
        out = strat.liqrisk_populate(frame, {"pair": PAIR})
    stepper = strat._liq_columns.live[PAIR]
    assert stepper.full_runs == 1 and stepper.steps == 5
    want = compute_features(frame, pair=PAIR, timeframe=strat.timeframe, config=strat._liq_cfg)
    pd.testing.assert_frame_equal(out[want.columns].iloc[-1:], want.iloc[-1:], rtol=1e-9)
