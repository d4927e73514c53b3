"""The bot's liquidation recorder (``liqrisk.adapter.recording``): options, start and stop in
dry-run only, the daily score message with a fake clock, and its figures."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from freqtrade.enums import RunMode

from liqrisk.adapter import recording
from liqrisk.adapter.columns import LiqriskConfigurationError
from liqrisk.tools.exchange.liquidation_ws import LiquidationWsThread, now_ms
from liqrisk.tools.record.read import read_recorded
from liqrisk.tools.record.score import score_pair
from liqrisk.tools.record.store import Liquidation, PairStore, event_key, store_root
from liqrisk.tools.validate.metrics import auc_any, spearman
from tests.adapter.test_mixin import CONFIG, PAIR, WithMixin

T0 = pd.Timestamp("2025-03-01", tz="UTC")
N = 2 * 288  # two days of 5m candles


class FakeDP:
    def __init__(self, frame=None, oi=None, runmode=RunMode.DRY_RUN):
        self.runmode, self.frame, self.oi, self.sent = runmode, frame, oi, []

    def get_analyzed_dataframe(self, pair, timeframe):
        return self.frame, T0

    def get_pair_dataframe(self, pair, timeframe, candle_type=None):
        return self.oi if self.oi is not None else pd.DataFrame()

    def current_whitelist(self):
        return [PAIR]

    def send_msg(self, message, *, always_send=False):
        self.sent.append(message)


def test_options_default_off_and_config_section_overrides():
    assert recording.read_options(False, {}) == recording.RecordingOptions()
    assert recording.read_options(True, {}).enabled
    opts = recording.read_options(True, {"liqrisk_record": {"enabled": False, "days": 3, "report_every_h": 6}})
    assert (opts.enabled, opts.days, opts.report_every_h) == (False, 3.0, 6.0)
    for bad in ({"days": 0}, {"report_every_h": "24"}, {"windows": ["1d"]}, {"ws_url": "http://x"}):
        with pytest.raises(LiqriskConfigurationError, match="liqrisk_record"):
            recording.read_options(True, {"liqrisk_record": bad})
    with pytest.raises(LiqriskConfigurationError):
        recording.read_options(True, {"liqrisk_record": [1]})


def test_loopback_exchange_is_recorded_from_the_local_streams():
    local = {"ccxt_config": {"urls": {"api": {"fapiPublic": "http://127.0.0.1:8765/fapi/v1"}}}}
    assert recording.loopback_base(local) == "http://127.0.0.1:8765"
    assert recording.loopback_base({"ccxt_config": {"urls": {"api": {"public": "https://fapi.binance.com"}}}}) is None
    assert recording.loopback_base({}) is None


def _strategy(runmode, **section):
    strat = WithMixin(dict(CONFIG, runmode=runmode, exchange={"name": "binance"}, liqrisk_record=section))
    strat.dp = FakeDP(runmode=runmode)
    return strat


def test_off_by_default_and_never_in_backtesting(tmp_path):
    assert recording.start_for(_strategy(RunMode.DRY_RUN)) is None
    assert recording.start_for(_strategy(RunMode.BACKTEST, enabled=True)) is None
    assert recording.start_for(_strategy(RunMode.HYPEROPT, enabled=True)) is None


def test_unknown_exchange_is_logged_and_the_bot_runs_on(tmp_path, caplog):
    strat = _strategy(RunMode.DRY_RUN, enabled=True)
    strat.config["exchange"] = {"name": "kraken"}
    assert recording.start_for(strat) is None
    assert "not recording liquidations" in caplog.text and "kraken" in caplog.text.lower()


def _recording_bot(tmp_path, server):
    """A dry-run strategy recording from ``server`` into ``tmp_path``, subscribed: (strategy, recording)."""
    strat = _strategy(RunMode.DRY_RUN, enabled=True, ws_url=server.urls["binance"])
    strat.config["datadir"] = str(tmp_path)
    strat.ft_bot_start()
    rec = strat._liq_recording
    assert rec is not None and rec.thread.is_alive()
    assert rec.thread.recorder.ready.wait(20)
    return strat, rec


def _until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_dry_run_records_the_whitelist_and_stops_on_cleanup(tmp_path):
    server = LiquidationWsThread().start()
    try:
        strat, rec = _recording_bot(tmp_path, server)
        t = now_ms() + 300
        server.feed(pd.DataFrame({"date": [t, t + 2000], "pair": [PAIR, PAIR], "side": ["long", "short"],
                                  "price": [100.0, 101.0], "qty": [2.0, 3.0]}))
        _until(lambda: rec.thread.recorder.links["binance"].events >= 2)
        began = time.monotonic()
        strat.ft_bot_cleanup()
        assert time.monotonic() - began < recording.STOP_TIMEOUT_S + 0.5
        assert not rec.thread.is_alive() and rec.thread.error is None
    finally:
        server.stop()
    events = read_recorded(tmp_path, PAIR, ["binance"]).events
    assert list(events["usd"]) == [200.0, 303.0]


def test_dry_run_follows_a_dynamic_whitelist(tmp_path):
    """A pair the pairlist adds later is recorded from then on (the per-candle hook follows
    the whitelist); pairs it drops stay recorded."""
    other = "ETH/USDT:USDT"
    server = LiquidationWsThread().start()
    try:
        strat, rec = _recording_bot(tmp_path, server)
        strat.dp.current_whitelist = lambda: [other]  # the pairlist swapped BTC for ETH
        assert rec.maybe_report(strat.dp) is False  # not due: it only followed the whitelist
        assert rec.pairs == [PAIR, other] and rec.follow(strat.dp) == []
        stores = rec.thread.recorder.links["binance"].stores
        _until(lambda: other in stores and stores[other].span is not None)
        t = now_ms() + 300
        server.feed(pd.DataFrame({"date": [t, t + 1500], "pair": [other, PAIR], "side": ["short", "long"],
                                  "price": [3000.0, 100.0], "qty": [0.5, 1.0]}))
        _until(lambda: rec.thread.recorder.links["binance"].events >= 2)
        strat.ft_bot_cleanup()
    finally:
        server.stop()
    assert list(read_recorded(tmp_path, other, ["binance"]).events["usd"]) == [1500.0]
    assert list(read_recorded(tmp_path, PAIR, ["binance"]).events["usd"]) == [100.0]


def _recorded_market(tmp_path, rng):
    """Two days of 5m candles whose wicks liquidate, an estimate that tracks the actuals, and
    a recording of them with a one-hour gap."""
    dates = pd.date_range(T0, periods=N, freq="5min")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, N)))
    open_ = np.r_[100.0, close[:-1]]
    low, high = np.minimum(open_, close) * (1 - rng.uniform(0, 0.004, N)), np.maximum(open_, close) * 1.001
    act_long = np.where(rng.uniform(size=N) < 0.4, (open_ - low) / open_ * 1e7 * rng.uniform(0.5, 1.5, N), 0.0)
    frame = pd.DataFrame({"date": dates, "open": open_, "high": high, "low": low, "close": close,
                          "liq_long_est_usd_1d": act_long * rng.uniform(0.7, 1.3, N) + 1.0,
                          "liq_short_est_usd_1d": rng.uniform(0, 1, N)})
    store = PairStore(store_root(tmp_path), "binance", PAIR)
    start = int(T0.value // 1_000_000)
    store.connected(start)
    for d, usd in zip(dates.as_unit("ms").asi8, act_long, strict=True):
        if usd > 0:
            t = int(d) + 1000
            store.add(Liquidation(t, "binance", PAIR, "long", 100.0, usd / 100.0, usd,
                                  event_key(t, "long", 100.0, usd / 100.0)))
    gap = (start + 86_400_000, start + 86_400_000 + 3_600_000)
    store.add_gap(*gap, "disconnect")
    store.flush(now=start + N * 300_000)
    return frame, act_long, gap


def test_daily_score_message_with_a_fake_clock(tmp_path):
    frame, act_long, gap = _recorded_market(tmp_path, np.random.default_rng(5))
    now = [T0 + pd.Timedelta(days=2)]
    opts = recording.RecordingOptions(enabled=True, days=7.0, report_every_h=24.0)
    rec = recording.BotRecording({"exchange": {"name": "binance"}, "datadir": str(tmp_path)}, opts, [PAIR], "5m",
                                 "1d", clock=lambda: now[0])
    dp = FakeDP(frame)
    assert not rec.maybe_report(dp, wait=True) and dp.sent == []  # not a day yet
    now[0] += pd.Timedelta(hours=23)
    assert not rec.maybe_report(dp, wait=True)
    now[0] += pd.Timedelta(hours=1, minutes=5)
    assert rec.maybe_report(dp, wait=True)
    assert len(dp.sent) == 1 and dp.sent[0] == rec.last_message
    msg = dp.sent[0]
    assert "last 7 days (binance" in msg and "undercount" in msg and f"{PAIR} 5m 1d" in msg
    assert "long rho" in msg and "wick×OI" in msg and "AUC" in msg
    assert not rec.maybe_report(dp, wait=True)  # the next one is a day later

    # the figures: covered candles only (the gap's 12 candles and those touching it are out)
    actual = read_recorded(tmp_path, PAIR, ["binance"], timeframe="5m").actuals
    score = score_pair(frame, actual, pair=PAIR, timeframe="5m", now=now[0], days=7)
    dates = frame["date"].dt.as_unit("ms").astype("int64")
    covered = ~((dates < gap[1]) & (dates + 300_000 > gap[0])).to_numpy()
    assert score.n == covered.sum() == N - 12
    long = score.sides["long"]
    assert long["spearman"] == pytest.approx(spearman(frame["liq_long_est_usd_1d"][covered], act_long[covered]))
    assert long["auc"] == pytest.approx(auc_any(frame["liq_long_est_usd_1d"][covered], act_long[covered]))
    assert long["spearman"] > 0.8 and long["auc"] > 0.9
    assert np.isfinite(long["base_spearman"]) and long["with_liq"] == int((act_long[covered] > 0).sum())
    assert f"rho {long['spearman']:.2f}" in msg


def test_score_skips_pairs_without_a_recording(tmp_path):
    rec = recording.BotRecording({"exchange": {"name": "binance"}, "datadir": str(tmp_path)},
                                 recording.RecordingOptions(enabled=True), [PAIR], "5m", "1d",
                                 clock=lambda: T0)
    dp = FakeDP(pd.DataFrame({"date": [T0], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0],
                              "liq_long_est_usd_1d": [0.0], "liq_short_est_usd_1d": [0.0]}))
    rec.report(dp, wait=True)
    assert f"{PAIR}: not scored (no recorded liquidations" in dp.sent[0]
