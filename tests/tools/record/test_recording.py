"""Recording the local WebSocket server through ccxt pro: exact in Bybit style, the sample
in Binance style, and every missed event inside a recorded gap when the link drops."""

from __future__ import annotations

import asyncio

import pandas as pd

from liqrisk.tools.exchange.liquidation_ws import events_from_truth, now_ms, wire_events
from liqrisk.tools.record.read import candle_file, read_recorded
from tests.tools.record.conftest import PAIRS, burst, expected, record_with, recorded, start_ms, wait_for


def _read(tmp_path, pair, exchange):
    return read_recorded(tmp_path, pair, [exchange], timeframe="5m")


def test_bybit_equals_fed_events_and_binance_the_sample(tmp_path):
    fed = {}

    async def script(server, recorder):
        fed["events"] = burst(start_ms(), n=60)
        server.feed(fed["events"])
        last = int(fed["events"]["date"].max())
        await wait_for(lambda: recorder.links["bybit"].events >= 60 and now_ms() > last + 1500)

    asyncio.run(record_with(tmp_path, script))
    events = fed["events"]
    for pair in PAIRS:
        bybit = _read(tmp_path, pair, "bybit")
        want = expected(wire_events(events[events["pair"] == pair], "bybit"))
        pd.testing.assert_frame_equal(recorded(bybit.events), want, check_dtype=False)
        assert bybit.gaps.empty and bybit.events["event_id"].is_unique
        assert (bybit.events["usd"] == bybit.events["price"] * bybit.events["qty"]).all()

        binance = _read(tmp_path, pair, "binance")
        sample = expected(wire_events(events[events["pair"] == pair], "binance"))
        pd.testing.assert_frame_equal(recorded(binance.events), sample, check_dtype=False)
        assert len(sample) < len(want)  # Binance's sampling is an undercount
        assert candle_file(tmp_path, pair, "5m").exists() and candle_file(tmp_path, pair, "1h").exists()


def test_truth_replay_equals_the_simulator_liquidations(tmp_path):
    truth = burst(1_738_030_000_000, n=80, step_ms=45_000).assign(usd=0.0, leverage=10.0)
    path = tmp_path / "liquidations.parquet"
    truth.to_parquet(path)
    fed = {}

    async def script(server, recorder):
        # 80 events over an hour of simulated time, replayed 1800x faster: about 2 s
        fed["events"] = events_from_truth(path, start_ms=start_ms(), speed=1800.0)
        server.feed(fed["events"])
        await wait_for(lambda: recorder.links["bybit"].events >= 80, timeout=20)

    asyncio.run(record_with(tmp_path / "data", script, exchanges=("bybit",)))
    got = pd.concat([_read(tmp_path / "data", p, "bybit").events for p in PAIRS])
    pd.testing.assert_frame_equal(recorded(got), expected(wire_events(fed["events"], "bybit")), check_dtype=False)
    assert sorted(fed["events"]["pair"].unique()) == sorted(truth["pair"].unique())


def test_dropped_connection_is_a_gap_and_replays_are_not_duplicated(tmp_path):
    fed = []

    async def script(server, recorder):
        first = burst(start_ms(), n=30)
        server.feed(first)
        fed.append(first)
        await asyncio.sleep(1.2)  # mid-burst
        assert await server.drop_connections(down_s=0.6) >= 2
        await wait_for(lambda: recorder.ready.is_set() and all(x.live for x in recorder.links.values()))
        second = burst(start_ms(300), n=30, step_ms=61)
        server.feed(second)
        fed.append(second)
        last = int(second["date"].max())
        await wait_for(lambda: now_ms() > last + 1500)

    # the server re-sends the last 3 s to a new subscriber: those events are already stored
    asyncio.run(record_with(tmp_path, script, replay_ms=3000))
    for exchange in ("bybit", "binance"):
        for pair in PAIRS:
            rec = _read(tmp_path, pair, exchange)
            assert rec.events["event_id"].is_unique
            assert (rec.gaps["reason"] == "disconnect").sum() == 1
            # the server samples each feed on its own
            want = expected(pd.concat([wire_events(e[e["pair"] == pair], exchange) for e in fed]))
            got = recorded(rec.events)
            merged = want.merge(got, how="left", indicator=True)
            missed = merged.loc[merged["_merge"] == "left_only", "date"].to_numpy()
            gap = rec.gaps.iloc[0]
            assert ((missed >= gap["start_ms"]) & (missed <= gap["end_ms"])).all(), (exchange, pair, missed, gap)
            assert len(got.merge(want)) == len(got)  # nothing recorded that was not sent
            # candles touching the gap are unknown; the rest of the span is known
            c = rec.candles
            inside = (c["date"].astype("int64") // 1_000_000 < gap["end_ms"]) & \
                     (c["date"].astype("int64") // 1_000_000 + 300_000 > gap["start_ms"])
            assert c.loc[inside, "long_usd"].isna().all()
