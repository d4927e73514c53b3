"""``liqrisk record`` killed with SIGKILL mid-stream and started again: no duplicate, no
lost flushed event, and the time it was down is a recorded gap."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd

from liqrisk.tools.exchange.liquidation_ws import LiquidationWsThread, now_ms, wire_events
from liqrisk.tools.record.read import read_recorded
from tests.tools.record.conftest import PAIRS, burst

FLUSH_S = 0.2


def _record(datadir, urls, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "liqrisk.cli", "record", "--datadir", str(datadir), "--pairs", *PAIRS,
           "--exchanges", "bybit", "binance", "--timeframes", "1m", "--duration", "45s",
           "--flush-seconds", str(FLUSH_S), "--ws-url-override", *(f"{k}={v}" for k, v in urls.items())]
    with open(log, "w") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=f, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def _wait(predicate, timeout: float, proc: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"liqrisk record exited {proc.returncode}: {log.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError("liqrisk record did not subscribe in time")
        time.sleep(0.05)


def test_kill_and_restart_mid_stream(tmp_path):
    # the server re-sends the last 5 s to each new subscriber, so the restarted recorder
    # sees again the events it flushed in the 2 s or so before the kill
    server = LiquidationWsThread(replay_ms=5000).start()
    procs = []
    try:
        logs = [tmp_path / "record-1.log", tmp_path / "record-2.log"]
        procs.append(_record(tmp_path, server.urls, logs[0]))
        _wait(lambda: server.server.acks >= 3, 40, procs[0], logs[0])  # 1 Binance + 2 Bybit subscriptions
        events = burst(now_ms() + 300, n=120, step_ms=83)  # about 10 s of events
        server.feed(events)
        time.sleep(4.0)
        kill_ms = now_ms()
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        time.sleep(1.0)
        procs.append(_record(tmp_path, server.urls, logs[1]))
        _wait(lambda: server.server.acks >= 6, 40, procs[1], logs[1])
        last = int(events["date"].max())
        while now_ms() < last + 2000:
            time.sleep(0.1)
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(20) == 0, logs[1].read_text()[-2000:]
        # the re-sent events were seen again and dropped as duplicates
        final = logs[1].read_text().strip().splitlines()[-1]
        assert int(re.search(r"bybit [\d,]+ events \((\d+) dup\)", final).group(1)) > 0, final
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        server.stop()

    for exchange in ("bybit", "binance"):
        for pair in PAIRS:
            rec = read_recorded(tmp_path, pair, [exchange], timeframe="1m")
            got = rec.events
            assert got["event_id"].is_unique, "a duplicate after the restart"
            restart = rec.gaps[rec.gaps["reason"] == "restart"]
            assert len(restart) == 1
            gap = restart.iloc[0]
            assert gap["start_ms"] < kill_ms < gap["end_ms"]
            want = wire_events(events[events["pair"] == pair], exchange)
            merged = want.merge(got.rename(columns={"time_ms": "date"})[list(want.columns)], how="left",
                                indicator=True)
            missed = merged.loc[merged["_merge"] == "left_only", "date"]
            # every event not recorded was sent while the recorder was down
            assert missed.between(gap["start_ms"], gap["end_ms"]).all(), (exchange, pair, missed.tolist(), gap)
            # and every event flushed before the kill is there: none missed before the gap
            assert not (missed < gap["start_ms"]).any()
            # candles touching the downtime are unknown, never zero
            c = rec.candles
            open_ms = c["date"].astype("int64") // 1_000_000
            touching = (open_ms < gap["end_ms"]) & (open_ms + 60_000 > gap["start_ms"])
            assert c.loc[touching, "long_usd"].isna().all()
            assert pd.api.types.is_float_dtype(c["long_usd"])
