"""The backtest report's OI coverage (``Counters.oi_coverage``): candles on the volume proxy
after the startup rows, with their spans."""

from __future__ import annotations

import json

import pandas as pd

from liqrisk.adapter.report import MAX_SPANS, Counters, write_report


def frame(flags: list[int]) -> pd.DataFrame:
    dates = pd.date_range("2025-01-01", periods=len(flags), freq="5min", tz="UTC")
    return pd.DataFrame({"date": dates, "liq_oi_fallback": [float(f) for f in flags]})


def test_counts_fallback_candles_and_spans_after_the_startup():
    c = Counters()
    c.oi_coverage("BTC/USDT:USDT", frame([1, 1, 0, 1, 1, 0, 0, 1]), skip=1)
    assert c.summary()["oi_fallback"]["BTC/USDT:USDT"] == {
        "candles": 7, "fallback": 4, "spans_left_off": 0,
        "spans": [["2025-01-01T00:05:00+00:00", "2025-01-01T00:05:00+00:00", 1],
                  ["2025-01-01T00:15:00+00:00", "2025-01-01T00:20:00+00:00", 2],
                  ["2025-01-01T00:35:00+00:00", "2025-01-01T00:35:00+00:00", 1]]}


def test_the_last_frame_counts_and_spans_are_bounded():
    c = Counters()
    c.oi_coverage("ETH/USDT:USDT", frame([1] * 10))
    c.oi_coverage("ETH/USDT:USDT", frame([0] * 10))
    assert c.summary()["oi_fallback"]["ETH/USDT:USDT"] == {"candles": 10, "fallback": 0, "spans": [],
                                                           "spans_left_off": 0}
    c.oi_coverage("ETH/USDT:USDT", frame([1, 0] * (MAX_SPANS + 5)))
    got = c.summary()["oi_fallback"]["ETH/USDT:USDT"]
    assert got["fallback"] == MAX_SPANS + 5 and len(got["spans"]) == MAX_SPANS and got["spans_left_off"] == 5
    c.oi_coverage("XRP/USDT:USDT", pd.DataFrame({"date": []}))  # no liq_ columns: nothing recorded
    assert "XRP/USDT:USDT" not in c.summary()["oi_fallback"]


def test_report_file_and_log_line_carry_it(tmp_path, caplog):
    c = Counters()
    c.oi_coverage("BTC/USDT:USDT", frame([0, 1, 1, 0]))
    with caplog.at_level("INFO"):
        path = write_report("S", c, tmp_path)
    assert json.loads(path.read_text())["summary"]["oi_fallback"]["BTC/USDT:USDT"]["fallback"] == 2
    assert "OI-fallback candles {'BTC/USDT:USDT': '2/4'}" in caplog.text
