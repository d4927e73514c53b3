"""The event store: append, flush, resume after a crash, no duplicates, gaps, closed days."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from liqrisk.errors import DataError
from liqrisk.tools.record.read import candle_file, read_recorded, write_candle_sums
from liqrisk.tools.record.store import (
    CLOSE_GRACE_MS,
    DAY_MS,
    Liquidation,
    PairStore,
    event_key,
    store_root,
)

PAIR = "BTC/USDT:USDT"
T0 = 1_738_022_400_000  # 2025-01-28 00:00 UTC


def ev(t, side="long", price=100.0, qty=1.0, exchange="bybit"):
    return Liquidation(t, exchange, PAIR, side, price, qty, price * qty, event_key(t, side, price, qty))


def open_store(tmp_path, exchange="bybit"):
    return PairStore(store_root(tmp_path), exchange, PAIR, latency_ms=500)


def test_append_flush_and_no_duplicates(tmp_path):
    s = open_store(tmp_path)
    s.connected(T0)
    assert s.add(ev(T0 + 10)) and not s.add(ev(T0 + 10))
    assert s.add(ev(T0 + 10, qty=2.0))  # another size: another event
    assert s.flush(T0 + 1000) == 2
    day = s.dir / "2025-01-28.jsonl"
    assert len(day.read_text().splitlines()) == 2
    assert not s.add(ev(T0 + 10))  # still known after the flush
    assert s.duplicates == 2


def test_resume_after_crash_keeps_flushed_and_drops_duplicates(tmp_path):
    s = open_store(tmp_path)
    s.connected(T0)
    s.add(ev(T0 + 1))
    s.flush(T0 + 2000)
    s.add(ev(T0 + 3000))  # buffered, never flushed: lost in the crash, by design
    with open(s.dir / "2025-01-28.jsonl", "a") as f:
        f.write('{"time_ms": 17380')  # a line torn by the crash
    # crash: no close(); a new process opens the store
    s2 = open_store(tmp_path)
    assert not s2.add(ev(T0 + 1))  # flushed before the crash: a duplicate now
    assert s2.add(ev(T0 + 3000))
    s2.connected(T0 + 10_000)
    s2.flush(T0 + 11_000)
    rec = read_recorded(tmp_path, PAIR)
    assert rec.events["time_ms"].tolist() == [T0 + 1, T0 + 3000]
    assert rec.events["event_id"].is_unique
    # the crash is a gap from the last flush (less the push latency and margin) to the new ack
    assert rec.gaps[["start_ms", "end_ms", "reason"]].values.tolist() == [[T0 + 2000 - 1500, T0 + 10_000, "restart"]]
    assert rec.spans["bybit"] == (T0, T0 + 11_000)


def test_disconnect_gap_starts_at_last_sign_of_life(tmp_path):
    s = open_store(tmp_path)
    s.connected(T0)
    s.flush(T0 + 140_000)
    s.disconnected(T0 + 150_000)
    s.flush(T0 + 170_000)  # not connected: the span does not advance
    assert json.loads((s.dir / "span.json").read_text())["end_ms"] <= T0 + 150_000
    s.connected(T0 + 175_000)
    s.close(T0 + 900_000)
    rec = read_recorded(tmp_path, PAIR, timeframe="1m")
    # the gap starts the push latency (500 ms) and a 1 s margin before the last sign of life
    assert rec.gaps[["start_ms", "end_ms", "reason"]].values.tolist() == [[T0 + 148_500, T0 + 175_000, "disconnect"]]
    c = rec.candles.set_index("date")

    def at(ms):
        return c.loc[pd.Timestamp(T0 + ms, unit="ms", tz="UTC")]

    # the candle touching the gap is unknown; the others are real zeros
    assert pd.isna(at(120_000)["long_usd"]) and pd.isna(at(120_000)["long_count"])
    assert at(60_000)["long_usd"] == 0.0 and at(180_000)["short_count"] == 0
    assert len(rec.candles) == 15 and len(rec.actuals) == 14


def test_closed_day_is_compacted_once_and_never_rewritten(tmp_path):
    s = open_store(tmp_path)
    s.connected(T0)
    s.add(ev(T0 + 5, "short", 101.0, 0.5))
    s.add(ev(T0 + 1))
    s.flush(T0 + 1000)
    s.flush(T0 + DAY_MS + CLOSE_GRACE_MS)  # the day closes
    feather = s.dir / "2025-01-28.feather"
    assert feather.exists() and not (s.dir / "2025-01-28.jsonl").exists()
    frame = pd.read_feather(feather)
    assert frame["time_ms"].tolist() == [T0 + 1, T0 + 5]  # sorted by time
    before = feather.stat().st_mtime_ns
    assert not s.add(ev(T0 + 1))  # known from the closed file
    assert s.add(ev(T0 + 7))  # a late event goes beside the closed day, not into it
    s.flush(T0 + DAY_MS + CLOSE_GRACE_MS + 1000)
    assert feather.stat().st_mtime_ns == before
    assert (s.dir / "2025-01-28.late.jsonl").exists()
    s2 = open_store(tmp_path)
    assert not s2.add(ev(T0 + 7))
    assert read_recorded(tmp_path, PAIR).events["time_ms"].tolist() == [T0 + 1, T0 + 5, T0 + 7]


def test_crash_between_compaction_and_cleanup(tmp_path):
    s = open_store(tmp_path)
    s.connected(T0)
    s.add(ev(T0 + 1))
    s.flush(T0 + 1000)
    jsonl = (s.dir / "2025-01-28.jsonl").read_bytes()
    s.flush(T0 + DAY_MS + CLOSE_GRACE_MS)
    (s.dir / "2025-01-28.jsonl").write_bytes(jsonl)  # the unlink did not happen
    open_store(tmp_path)
    assert not (s.dir / "2025-01-28.jsonl").exists()
    assert read_recorded(tmp_path, PAIR).events["time_ms"].tolist() == [T0 + 1]


def test_candle_sums_per_exchange_and_total(tmp_path):
    for exchange, usd_scale in (("binance", 1.0), ("bybit", 2.0)):
        s = open_store(tmp_path, exchange)
        s.connected(T0)
        s.add(ev(T0 + 30_000, "long", 100.0, usd_scale, exchange))
        s.add(ev(T0 + 310_000, "short", 100.0, 1.0, exchange))
        s.close(T0 + 600_000 + (0 if exchange == "binance" else 300_000))
    [path] = write_candle_sums(tmp_path, PAIR, ["5m"])
    assert path == candle_file(tmp_path, PAIR, "5m") and path.name == "BTC_USDT_USDT-5m-liquidations.feather"
    c = pd.read_feather(path)
    assert c["binance_long_usd"].tolist()[:2] == [100.0, 0.0] and c["bybit_long_usd"].tolist()[:2] == [200.0, 0.0]
    assert c["long_usd"].tolist()[:2] == [300.0, 0.0] and c["short_count"].tolist()[:2] == [0, 2]
    # bybit covers a third candle, binance does not: the total there is unknown
    assert c["bybit_long_usd"].iloc[2] == 0.0 and np.isnan(c["long_usd"].iloc[2])
    only = read_recorded(tmp_path, PAIR, ["bybit"], timeframe="5m")
    assert only.exchanges == ["bybit"] and len(only.actuals) == 3


def test_nothing_recorded_says_how(tmp_path):
    with pytest.raises(DataError, match="liqrisk record"):
        read_recorded(tmp_path, PAIR)
    open_store(tmp_path)
    with pytest.raises(DataError, match="okx"):
        read_recorded(tmp_path, PAIR, ["okx"])


def test_actuals_match_the_truths_per_candle_sums_outside_gaps(tmp_path):
    # what validate scores: a recorded store gives the same per-candle actuals as the
    # same events given as a truth file, except the candles touching a gap (unknown)
    from liqrisk.tools.validate.actuals import actuals_per_candle

    rng = np.random.default_rng(7)
    times = np.sort(rng.integers(T0, T0 + 6 * 3_600_000, 300))
    sides = rng.choice(["long", "short"], 300)
    prices = rng.uniform(90.0, 110.0, 300).round(2)
    qtys = rng.uniform(0.1, 5.0, 300).round(3)
    s = open_store(tmp_path)
    s.connected(T0)
    for t, side, p, q in zip(times, sides, prices, qtys, strict=True):
        s.add(ev(int(t), side, float(p), float(q)))
    s.flush(T0 + 3_600_000)
    s.add_gap(T0 + 7_100_000, T0 + 7_500_000, "disconnect")
    s.close(T0 + 6 * 3_600_000)
    dates = pd.date_range(pd.Timestamp(T0, unit="ms", tz="UTC"), periods=6 * 12, freq="5min")
    truth = pd.DataFrame({"date": times, "side": sides, "usd": prices * qtys})
    want = actuals_per_candle(truth, dates, "5m", span_ms=(T0, T0 + 6 * 3_600_000))
    got = actuals_per_candle(read_recorded(tmp_path, PAIR, timeframe="5m").actuals, dates, "5m")
    open_ms = dates.as_unit("ms").asi8
    in_gap = (open_ms < T0 + 7_500_000) & (open_ms + 300_000 > T0 + 7_100_000)
    assert in_gap.sum() == 2 and got[in_gap].isna().all().all()
    pd.testing.assert_frame_equal(got[~in_gap], want[~in_gap], rtol=1e-12)
    # and at 1h: both hours the gap (1:58:20 to 2:05) touches are unknown
    got_1h = actuals_per_candle(read_recorded(tmp_path, PAIR, timeframe="1h").actuals, dates[::12], "1h")
    assert got_1h["long_usd"].isna().tolist() == [False, True, True, False, False, False]
