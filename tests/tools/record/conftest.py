"""Shared helpers: a local liquidation server and a recorder in one loop, bounded in time."""

from __future__ import annotations

import asyncio
import time

import pandas as pd

from liqrisk.tools.exchange.liquidation_ws import LiquidationWsServer, now_ms
from liqrisk.tools.record.recorder import Recorder, RecordSettings

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
#: A total order of events: two liquidations at the same ms, pair and price (a simulated
#: cascade) differ in size or side, and an unstable sort on fewer keys orders them at random.
EVENT_ORDER = ["date", "pair", "price", "qty", "side"]


def burst(start_ms: int, n: int = 40, step_ms: int = 97, pairs=PAIRS) -> pd.DataFrame:
    """``n`` liquidations from ``start_ms``, several per second and pair, all keys distinct."""
    rows = [{"date": start_ms + i * step_ms, "pair": pairs[i % len(pairs)], "side": "long" if i % 3 else "short",
             "price": 100_000.0 - 13.37 * i if i % 2 == 0 else 3_000.0 + 0.71 * i, "qty": 0.01 + 0.003 * i}
            for i in range(n)]
    return pd.DataFrame(rows)


def recorded(events: pd.DataFrame) -> pd.DataFrame:
    """Recorded events in the server's columns, sorted, for an exact comparison."""
    out = events.rename(columns={"time_ms": "date"})[["date", "pair", "side", "price", "qty"]]
    return out.sort_values(EVENT_ORDER).reset_index(drop=True)


def expected(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(EVENT_ORDER).reset_index(drop=True)


async def wait_for(predicate, timeout: float = 20.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(step)


async def record_with(datadir, script, *, exchanges=("binance", "bybit"), duration_s=30.0, **server_kw):
    """Start a server (``server_kw``: ``LiquidationWsServer``'s options, e.g. ``replay_ms``)
    and a recorder, wait until every subscription is acknowledged, run
    ``await script(server, recorder)``, then stop both. Returns the recorder."""
    server = await LiquidationWsServer(**server_kw).start()
    recorder = Recorder(RecordSettings(pairs=PAIRS, exchanges=list(exchanges), datadir=datadir,
                                       duration_s=duration_s, ws_urls=server.urls, flush_s=0.2, progress_s=5.0,
                                       candles_s=1000.0, backoff_s=(0.2, 1.0)))
    task = asyncio.create_task(recorder.run())
    try:
        await wait_for(recorder.ready.is_set)
        await script(server, recorder)
    finally:
        recorder.stop()
        await asyncio.wait_for(task, 30)
        await server.stop()
    return recorder


def start_ms(lead_ms: int = 400) -> int:
    return now_ms() + lead_ms
