"""The per-call paths of LiqRiskMixin that backtesting runs once per candle per open trade.

``custom_stoploss`` first checks the natural stop against danger zones precomputed for
the whole frame and only runs the full rule (Snapshot, ``rules.place_stop``) when the stop
is in one. These tests hold the shortcut to the full rule: same answers, same counters,
and thresholds changed between calls (as hyperopt does between epochs) are honoured.
"""

from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from liqrisk.adapter import layers
from liqrisk.adapter.rule_inputs import RuleInputs
from tests.adapter.test_mixin import PAIR, T0, OwnHooks, WithMixin, feature_frame, make, trade


@contextmanager
def param_values(strat, **values):
    """Set hyperopt parameter values (shared by every instance of the class), then restore them."""
    params = {name: getattr(strat, name) for name in values}
    old = {name: p.value for name, p in params.items()}
    try:
        for name, v in values.items():
            params[name].value = v
        yield
    finally:
        for name, v in old.items():
            params[name].value = v


def random_frame(rng, n=60, w="1d") -> pd.DataFrame:
    """Feature rows with clusters near the close on both sides, some not large, some NaN."""
    frame = feature_frame(n=n, w=w)
    close = 100.0 * np.exp(rng.normal(0, 0.003, n))
    close[rng.random(n) < 0.05] = np.nan
    frame["close"] = close
    for where, sign in (("below", -1.0), ("above", 1.0)):
        for kind in ("nearest", "strongest"):
            price = close * (1 + sign * rng.uniform(0.0, 0.03, n))
            price[rng.random(n) < 0.1] = np.nan
            frame[f"liq_{where}_{kind}_price_{w}"] = price
            frame[f"liq_{where}_{kind}_usd_{w}"] = rng.choice([0.0, 10.0, 29.0, 30.0, 200.0], n)
    frame[f"liq_long_outstanding_usd_{w}"] = rng.choice([0.0, 1000.0], n, p=[0.1, 0.9])
    frame[f"liq_short_outstanding_usd_{w}"] = rng.choice([0.0, 1000.0], n, p=[0.1, 0.9])
    return frame


def both_paths(cls, frame, tr, when, rate, after_fill, own_stop=None):
    """(answer, counters, stop rules) of the shortcut and of the full rule, on fresh strategies."""
    out = []
    for full in (False, True):
        strat = cls({"timeframe": "5m", "trading_mode": "futures", "margin_mode": "isolated",
                     "stake_amount": 100, "stake_currency": "USDT", "dry_run": True})
        strat.dp = None
        strat._liq_cache_frame(PAIR, frame)
        if own_stop is not None:
            strat.own_stop = own_stop
        kw = dict(pair=PAIR, trade=tr, current_time=when, current_rate=rate, current_profit=0.0,
                  after_fill=after_fill)
        if full:
            own = strat.own_stop if cls is OwnHooks else None
            value = layers.stop_full(strat, own, PAIR, tr, when, rate, after_fill)
        else:
            value = strat.custom_stoploss(**kw)
        out.append((value, strat.liqrisk_summary(), dict(strat._liq_counters.stop_rule)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_shortcut_matches_full_rule(seed):
    rng = np.random.default_rng(seed)
    frame = random_frame(rng)
    moved = 0
    for _ in range(150):
        side = "short" if rng.random() < 0.5 else "long"
        open_rate = float(100.0 * np.exp(rng.normal(0, 0.004)))
        tr = trade(side, open_rate=open_rate, leverage=float(rng.choice([1.0, 3.0, 5.0, 10.0])),
                   stoploss=-float(rng.uniform(0.02, 0.2)))
        when = T0 - timedelta(minutes=5 * int(rng.integers(-3, 62)), seconds=int(rng.choice([0, 0, 1, 150])))
        rate = float(open_rate * (1 + rng.normal(0, 0.004)))
        cls, own = (OwnHooks, float(-rng.uniform(0.005, 0.12))) if rng.random() < 0.3 else (WithMixin, None)
        fast, full = both_paths(cls, frame, tr, when, rate, bool(rng.random() < 0.5), own)
        assert fast == full
        moved += fast[1]["stop_moved"] != {}
    assert moved > 5  # the draws did reach the full rule, not only the shortcut


def test_unknown_pair_or_rate_keeps_own():
    strat = make(below=(98.1, 100.0))
    tr = trade()
    kw = dict(trade=tr, current_time=T0, current_profit=0.0, after_fill=False)
    assert strat.custom_stoploss(pair="ETH/USDT:USDT", current_rate=100.0, **kw) is None
    assert strat.custom_stoploss(pair=PAIR, current_rate=math.nan, **kw) is None
    assert strat.custom_stoploss(pair=PAIR, current_rate=100.0, **kw) is not None  # 98.0 is in the zone


def test_rule_params_follow_parameter_changes():
    strat = make()
    p1 = strat.liqrisk_rule_params()
    assert strat.liqrisk_rule_params() is p1  # reused while nothing changes
    with param_values(strat, liqrisk_min_share=0.05, liqrisk_rsi_high=80):
        p2 = strat.liqrisk_rule_params()
        assert (p2.min_share, p2.rsi_high) == (0.05, 80.0) and isinstance(p2.rsi_high, float)
    p3 = strat.liqrisk_rule_params()
    assert p3 == p1 and p3.min_share == 0.01


def test_stop_zones_follow_parameter_changes():
    # Current stop 98.0 (5x, -10%); cluster at 98.5: its zone with a 0.4% band starts at 98.11,
    # so the stop is outside; with a 0.6% band (97.91..99.39) it is inside and moves above.
    strat = make(below=(98.5, 100.0))
    tr = trade()
    kw = dict(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0, after_fill=False)
    assert strat.custom_stoploss(**kw) is None
    with param_values(strat, liqrisk_band=0.006):
        assert strat.custom_stoploss(**kw) is not None
        assert strat.liqrisk_summary()["stop_moved"] == {"above_cluster": 1}
    assert strat.custom_stoploss(**kw) is None
    # A cluster that is no longer "large" for a higher min_share leaves the stop alone.
    strat = make(below=(98.1, 100.0))  # 100 of 1000 USD outstanding: 10%
    assert strat.custom_stoploss(**kw) is not None
    with param_values(strat, liqrisk_min_share=0.1):
        assert strat.custom_stoploss(**kw) is not None  # 10% >= 10%: still large
    with param_values(strat, liqrisk_min_share=0.101):
        assert strat.custom_stoploss(**kw) is None


def test_overridden_rule_params_are_used():
    class PerPair(WithMixin):
        def liqrisk_rule_params(self):
            return dataclasses.replace(super().liqrisk_rule_params(), band=0.006)

    strat = make(PerPair, below=(98.5, 100.0))
    assert strat.custom_stoploss(pair=PAIR, trade=trade(), current_time=T0, current_rate=100.0,
                                 current_profit=0.0, after_fill=False) is not None


def test_row_lookup_matches_searchsorted():
    rng = np.random.default_rng(3)
    tf = 300 * 10**9
    # Rows half a timeframe apart, then regular ones with gaps.
    half_steps = np.concatenate([np.ones(40, np.int64), rng.choice([2, 2, 2, 4, 10], 400)])
    closes = np.cumsum(half_steps).astype(np.int64) * (tf // 2) + 1_700_000_000 * 10**9
    inputs = RuleInputs(closes, np.zeros((len(closes), 13)), tf, "1d")
    probes = np.concatenate([closes, closes - 1, closes + 1, closes + tf // 2,
                             [closes[0] - tf, closes[-1] + 2 * tf, closes[-1] + 4 * tf]])
    for t in probes.tolist():
        i = int(np.searchsorted(closes, t, side="right")) - 1
        expect = -1 if i < 0 or t - closes[i] > 3 * tf else i
        assert inputs.row(t) == expect
