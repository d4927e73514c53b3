"""LiqRiskMixin's callbacks with hand-made feature rows and real freqtrade Trade objects.

The strategies are instantiated directly (no DataProvider): the rule inputs come from a
hand-made feature frame handed to the mixin's cache, exactly the arrays
``advise_indicators`` would keep.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from inspect import getfullargspec

import numpy as np
import pandas as pd
import pytest
from freqtrade.enums import TradingMode
from freqtrade.persistence import LocalTrade
from freqtrade.strategy import IStrategy

from liqrisk.adapter import LiqRiskMixin
from liqrisk.adapter.sample import LiqRiskSampleBase
from liqrisk.core import rules

PAIR = "BTC/USDT:USDT"
T0 = datetime(2025, 3, 1, tzinfo=UTC)
CONFIG = {"timeframe": "5m", "trading_mode": "futures", "margin_mode": "isolated", "stake_amount": 100,
          "stake_currency": "USDT", "dry_run": True}


class WithMixin(LiqRiskMixin, LiqRiskSampleBase):
    pass


class OwnHooks(LiqRiskMixin, LiqRiskSampleBase):
    """A strategy that defines the callbacks itself (one of them calling super())."""

    own_ok = True
    own_stop: float | None = None
    own_leverage = 3.0
    calls = 0

    def confirm_trade_entry(self, pair, order_type, amount, rate, time_in_force, current_time, entry_tag, side,
                            **kwargs) -> bool:
        type(self).calls += 1
        base = super().confirm_trade_entry(pair, order_type, amount, rate, time_in_force, current_time,
                                           entry_tag, side, **kwargs)
        return base and self.own_ok

    def custom_stoploss(self, pair, trade, current_time, current_rate, current_profit, after_fill, **kwargs):
        return self.own_stop

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side,
                 **kwargs) -> float:
        return self.own_leverage


def feature_frame(n=50, close=100.0, below=(math.nan, 0.0), above=(math.nan, 0.0), funding=0.0001, rsi=50.0,
                  w="1d") -> pd.DataFrame:
    """n candles ending at T0 (the last one opens at T0 - 5m, so it is closed at T0)."""
    dates = pd.date_range(T0 - timedelta(minutes=5 * n), periods=n, freq="5min", tz="UTC")
    frame = pd.DataFrame({"date": dates, "close": np.full(n, close)})
    for where, (price, usd) in (("below", below), ("above", above)):
        for kind in ("nearest", "strongest"):
            frame[f"liq_{where}_{kind}_price_{w}"] = price
            frame[f"liq_{where}_{kind}_usd_{w}"] = usd
    frame[f"liq_long_outstanding_usd_{w}"] = 1000.0
    frame[f"liq_short_outstanding_usd_{w}"] = 1000.0
    frame["liq_funding_rate"] = funding
    frame["liq_rsi"] = rsi
    return frame


def make(cls=WithMixin, **frame_kw):
    strat = cls(dict(CONFIG))
    strat.dp = None
    strat._liq_cache_frame(PAIR, feature_frame(**frame_kw))
    return strat


def trade(side="long", open_rate=100.0, leverage=5.0, stoploss=-0.10) -> LocalTrade:
    t = LocalTrade(id=1, pair=PAIR, stake_amount=100.0, amount=5.0, open_rate=open_rate, fee_open=0.0,
                   fee_close=0.0, exchange="binance", open_date=T0 - timedelta(minutes=30), is_open=True,
                   is_short=side == "short", leverage=leverage, trading_mode=TradingMode.FUTURES)
    t.adjust_stop_loss(open_rate, stoploss, initial=True)
    return t


def entry(strat, side="long", rate=100.0, pair=PAIR, when=T0):
    return strat.confirm_trade_entry(pair=pair, order_type="limit", amount=1.0, rate=rate, time_in_force="GTC",
                                     current_time=when, entry_tag=None, side=side)


def stop_price(strat, tr, value, current_rate=100.0):
    """The stop price freqtrade would set from a custom_stoploss return value."""
    side = "short" if tr.is_short else "long"
    return rules.stop_price_from_ratio(current_rate, value, tr.leverage, side)


# -- setup -----------------------------------------------------------------------------------


def test_startup_and_flags():
    strat = WithMixin(dict(CONFIG))
    assert strat.startup_candle_count == 2162  # 1w + 12h funding staleness + 2 candles, 5m
    assert strat.use_custom_stoploss
    assert "after_fill" in getfullargspec(OwnHooks.custom_stoploss).args
    assert "liq_below_nearest_price_1d" in strat.plot_config["main_plot"]
    small = WithMixin(dict(CONFIG, liqrisk={"windows": ["12h", "1d"]}))
    assert small.startup_candle_count == 600  # the strategy asks for more than liqrisk (434)
    # At 1h the windows need little history, but liq_rsi's Wilder smoothing needs 30 periods.
    short_history = type("ShortHistory", (WithMixin,), {"startup_candle_count": 10, "timeframe": "1h"})
    hourly = short_history(dict(CONFIG, timeframe="1h", liqrisk={"windows": ["12h", "1d"]}))
    assert hourly.startup_candle_count == 30 * hourly.liqrisk_rsi_period  # 420 > the windows' 38


def test_populate_keeps_rows_and_flags_fallback():
    rng = np.random.default_rng(1)
    n = 600
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    df = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC"), "open": close,
                       "high": close * 1.002, "low": close * 0.998, "close": close, "volume": 10.0})
    strat = WithMixin(dict(CONFIG, liqrisk={"windows": ["12h", "1d"]}))
    strat.dp = None  # no DataProvider: no OI, no funding
    out = strat.liqrisk_populate(df.copy(), {"pair": PAIR})
    assert len(out) == n and out["date"].iloc[-1] == df["date"].iloc[-1] and out["close"].iloc[-1] == close[-1]
    assert (out["liq_oi_fallback"] == 1).all() and (out["liq_funding_fallback"] == 1).all()
    assert out["liq_funding_rate"].isna().all() and out["liq_rsi"].iloc[-1] > 0
    again = strat.liqrisk_populate(out, {"pair": PAIR})  # idempotent
    assert list(again.columns) == list(out.columns)


# -- entry veto -------------------------------------------------------------------------------


def test_veto_fires_and_counts():
    strat = make(below=(98.5, 100.0))
    assert entry(strat, "long") is False
    assert entry(strat, "short") is True
    assert strat.liqrisk_summary()["veto"] == {"long:cluster_near": 1}


def test_no_veto_without_clusters_or_data():
    assert entry(make(), "long") is True
    strat = WithMixin(dict(CONFIG))
    strat.dp = None  # nothing analysed: no veto
    assert entry(strat, "long") is True
    stale = make(below=(98.5, 100.0))
    assert entry(stale, "long", when=T0 + timedelta(hours=2)) is True  # data 2h old: unknown


def test_uses_only_closed_candles():
    strat = make(below=(98.5, 100.0))
    # At T0 - 5m the last row (opened at T0 - 5m) is not closed; the previous one is.
    assert entry(strat, "long", when=T0 - timedelta(minutes=5)) is False
    strat._liq_cache_frame(PAIR, pd.concat([feature_frame(n=49).assign(**{"liq_below_nearest_usd_1d": 0.0,
                                                                       "liq_below_strongest_usd_1d": 0.0}),
                                            feature_frame(n=1, below=(98.5, 100.0))], ignore_index=True))
    assert entry(strat, "long", when=T0 - timedelta(seconds=1)) is True  # the cluster row is not closed yet
    assert entry(strat, "long", when=T0) is False


def test_veto_from_either_side_wins():
    strat = make(OwnHooks)
    strat.own_ok = False
    assert entry(strat) is False  # strategy's veto
    strat = make(OwnHooks, below=(98.5, 100.0))
    strat.own_ok = True
    OwnHooks.calls = 0
    assert entry(strat) is False  # liqrisk's veto
    assert OwnHooks.calls == 1
    # The user's super() call reached the mixin but the rules ran once.
    assert strat.liqrisk_summary()["veto"] == {"long:cluster_near": 1}
    assert entry(make(OwnHooks)) is True


# -- stop placement ---------------------------------------------------------------------------


def test_initial_stop_moved_below_cluster():
    # 5x, stoploss -10%: natural stop at 98.0; a large long cluster at 98.1 holds it.
    strat = make(below=(98.1, 100.0))
    tr = trade()
    value = strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                                  after_fill=True)
    # Moving below the cluster would exceed the static stop (the widest): it goes above it.
    price = stop_price(strat, tr, value)
    zones = rules.danger_zones("long", [98.1], strat.liqrisk_rule_params())
    assert not any(lo <= price <= hi for lo, hi in zones)
    assert 98.1 < price < 100.0


def test_stop_moved_below_when_risk_allows():
    strat = make(OwnHooks, below=(99.0, 100.0))
    strat.own_stop = -0.05  # strategy's own initial stop: 1% of price at 5x = 99.0, in the band
    tr = trade()
    value = strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                                  after_fill=True)
    price = stop_price(strat, tr, value)
    assert 98.0 <= price < 99.0 * (1 - strat.liqrisk_band.value)
    assert strat.liqrisk_summary()["stop_moved"] == {"below_cluster": 1}


def test_later_calls_only_tighten():
    strat = make(below=(98.1, 100.0))
    tr = trade()  # current stop 98.0, inside the zone
    value = strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                                  after_fill=False)
    assert stop_price(strat, tr, value) > tr.stop_loss  # tighter: above the cluster


def test_tighter_own_stop_wins_outside_bands():
    strat = make(OwnHooks, below=(95.0, 100.0))
    strat.own_stop = -0.02  # 0.4% at 5x: 99.6, far from the cluster
    tr = trade()
    value = strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                                  after_fill=False)
    assert value == -0.02
    strat.own_stop = None  # "no change" stays "no change" when nothing is in a band
    assert strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                                 after_fill=False) is None


def test_short_stop_mirrored():
    strat = make(above=(101.9, 100.0))
    tr = trade("short")  # stop 102.0
    value = strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                                  after_fill=True)
    price = stop_price(strat, tr, value)
    zones = rules.danger_zones("short", [101.9], strat.liqrisk_rule_params())
    assert not any(lo <= price <= hi for lo, hi in zones) and 100.0 < price <= 102.0


def test_no_data_no_stop_change():
    strat = WithMixin(dict(CONFIG))
    strat.dp = None
    assert strat.custom_stoploss(pair=PAIR, trade=trade(), current_time=T0, current_rate=100.0,
                                 current_profit=0.0, after_fill=True) is None


def test_stop_exit_counted():
    strat = make(below=(98.1, 100.0))
    tr = trade()
    strat.custom_stoploss(pair=PAIR, trade=tr, current_time=T0, current_rate=100.0, current_profit=0.0,
                          after_fill=True)
    assert strat.confirm_trade_exit(pair=PAIR, trade=tr, order_type="limit", amount=1.0, rate=98.5,
                                    time_in_force="GTC", exit_reason="stop_loss", current_time=T0)
    s = strat.liqrisk_summary()
    assert s["stop_exits_total"] == 1 and s["stop_exit"] == {"above_cluster": 1}


# -- leverage -------------------------------------------------------------------------------


def test_leverage_capped_by_cluster_and_lower_wins():
    # 5x BTC long liquidates ~19.7% below (80.3); a large cluster at 81 (19% below) is beyond it by
    # less than the 1% buffer, so the leverage is lowered until the liquidation lies past 80.19.
    strat = make(below=(81.0, 100.0))
    lev = strat.leverage(pair=PAIR, current_time=T0, current_rate=100.0, proposed_leverage=1.0,
                         max_leverage=125.0, entry_tag=None, side="long")
    assert 1.0 <= lev < 5.0
    assert strat.liqrisk_summary()["leverage_capped"] == {"cluster": 1}
    own = make(OwnHooks, below=(81.0, 100.0))
    own.own_leverage = 2.0  # already lower than the cap
    assert own.leverage(pair=PAIR, current_time=T0, current_rate=100.0, proposed_leverage=1.0,
                        max_leverage=125.0, entry_tag=None, side="long") == 2.0
    assert make().leverage(pair=PAIR, current_time=T0, current_rate=100.0, proposed_leverage=1.0,
                           max_leverage=125.0, entry_tag=None, side="long") == 5.0


def test_mixin_must_come_first():
    # freqtrade loads the class; the mixin's hooks must win over IStrategy's defaults.
    assert WithMixin.__mro__.index(LiqRiskMixin) < WithMixin.__mro__.index(IStrategy)


@pytest.mark.parametrize("window", ["2d"])
def test_bad_window_is_a_config_error(window):
    class Bad(LiqRiskMixin, LiqRiskSampleBase):
        liqrisk_window = window

    with pytest.raises(ValueError, match="liqrisk_window"):
        Bad(dict(CONFIG))


def test_stop_exit_with_an_unreadable_database_warns_once(caplog):
    import logging
    from types import SimpleNamespace

    from freqtrade.enums import RunMode
    from sqlalchemy.exc import OperationalError

    class NoDB(SimpleNamespace):
        def get_custom_data(self, key, default=None):
            raise OperationalError("SELECT", {}, Exception("database is locked"))

    strat = make()
    strat.dp = SimpleNamespace(runmode=RunMode.LIVE)  # custom data is read in dry-run/live only
    tr = NoDB(id=7, pair=PAIR)
    with caplog.at_level(logging.WARNING, logger="liqrisk.adapter"):
        for _ in range(2):
            assert strat.confirm_trade_exit(pair=PAIR, trade=tr, order_type="limit", amount=1.0, rate=98.5,
                                            time_in_force="GTC", exit_reason="stop_loss", current_time=T0)
    warned = [r.getMessage() for r in caplog.records if "stop rule" in r.getMessage()]
    assert len(warned) == 1 and PAIR in warned[0] and "database is locked" in warned[0]
    assert strat.liqrisk_summary()["stop_exits_total"] == 2 and strat.liqrisk_summary()["stop_exit"] == {}
