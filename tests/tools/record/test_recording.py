"""Recording the local WebSocket server through ccxt pro: exact in Bybit style, the sample
in Binance style, and every missed event inside a recorded gap when the link drops."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from liqrisk.tools.exchange.liquidation_ws import events_from_truth, now_ms, wire_events
from liqrisk.tools.record.read import candle_file, list_exchanges, read_recorded
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


@pytest.mark.parametrize("exchanges", [("bybit", "binance"), ("okx",)], ids=["bybit+binance", "okx"])
def test_dropped_connection_is_a_gap_and_replays_are_not_duplicated(tmp_path, exchanges):
    fed = []

    async def script(server, recorder):
        first = burst(start_ms(), n=30)
        server.feed(first)
        fed.append(first)
        await asyncio.sleep(1.2)  # mid-burst
        assert await server.drop_connections(down_s=0.6) >= len(exchanges)
        await wait_for(lambda: recorder.ready.is_set() and all(x.live for x in recorder.links.values()))
        second = burst(start_ms(300), n=30, step_ms=61)
        server.feed(second)
        fed.append(second)
        last = int(second["date"].max())
        await wait_for(lambda: now_ms() > last + 1500)

    # the server re-sends the last 3 s to a new subscriber: those events are already stored
    # (OKX sampled as it documents)
    asyncio.run(record_with(tmp_path, script, exchanges=exchanges, replay_ms=3000))
    for exchange in exchanges:
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
            assert len(got.merge(want)) == len(got) > 0  # nothing recorded that was not sent
            # candles touching the gap are unknown; the rest of the span is known
            c = rec.candles
            inside = (c["date"].astype("int64") // 1_000_000 < gap["end_ms"]) & \
                     (c["date"].astype("int64") // 1_000_000 + 300_000 > gap["start_ms"])
            assert c.loc[inside, "long_usd"].isna().all()


def _pair_added_while_live(tmp_path, exchanges, **server_kw):
    """Record PAIRS, add SOL while live, feed all three: SOL is covered from its own
    acknowledgement (after the add) and recorded exactly; the others are not disturbed."""
    sol = "SOL/USDT:USDT"
    fed = {}

    async def script(server, recorder):
        first = burst(start_ms(), n=20)
        server.feed(first)
        fed["added_ms"] = now_ms()
        recorder.add_pairs([sol, PAIRS[0]])  # one new, one recorded already
        await wait_for(lambda: all(sol in x.stores and x.stores[sol].span is not None for x in recorder.links.values()))
        fed["covered_ms"] = now_ms()
        # after the first burst's last second: a sampling venue samples each second once
        second = burst(max(start_ms(), int(first["date"].max()) + 1500), n=30, pairs=[*PAIRS, sol])
        server.feed(second)
        fed["events"] = pd.concat([first, second], ignore_index=True)
        last = int(second["date"].max())
        await wait_for(lambda: now_ms() > last + 1500 and all(x.live for x in recorder.links.values()))

    recorder = asyncio.run(record_with(tmp_path, script, exchanges=exchanges, **server_kw))
    assert recorder.pairs == [*PAIRS, sol]
    events = fed["events"]
    for exchange in exchanges:
        link = recorder.links[exchange]
        assert link.pending == [] and link.errors == 0
        for pair in [*PAIRS, sol]:
            rec = _read(tmp_path, pair, exchange)
            want = events[events["pair"] == pair]
            if pair == sol:
                start, end = rec.spans[exchange]
                assert fed["added_ms"] <= start <= fed["covered_ms"] < end
            got = recorded(rec.events)
            pd.testing.assert_frame_equal(got, expected(wire_events(want, exchange, **(
                {"sampled": False} if exchange == "okx" else {}))), check_dtype=False)
            assert rec.gaps.empty


def test_a_pair_added_while_live_is_recorded_from_its_own_acknowledgement(tmp_path):
    _pair_added_while_live(tmp_path, ("bybit",))


def test_a_pair_added_while_live_binance_and_okx(tmp_path):
    _pair_added_while_live(tmp_path, ("binance", "okx"), okx_sampling=False)


def test_an_unlisted_added_pair_is_skipped_without_touching_the_others(tmp_path, monkeypatch, caplog):
    """Not in the exchange's markets, or refused by ccxt (BadSymbol): logged once, no store,
    no subscription counted, and the recorded pairs keep their coverage."""
    import ccxt

    from liqrisk.tools.record import recorder as recorder_module

    real_markets = recorder_module.offline_markets
    monkeypatch.setattr(recorder_module, "offline_markets",
                        lambda pairs, spec=None: real_markets([p for p in pairs if not p.startswith("SOL")], spec))

    async def script(server, recorder):
        link = recorder.links["bybit"]
        needed = link.acks_needed
        recorder.add_pairs(["SOL/USDT:USDT"])  # not in the markets
        watch = link.exchange.watch_liquidations

        async def refuse_xrp(symbol, *args, **kwargs):
            if symbol.startswith("XRP"):
                raise ccxt.BadSymbol(f"bybit does not have market symbol {symbol}")
            return await watch(symbol, *args, **kwargs)

        link.exchange.watch_liquidations = refuse_xrp
        recorder.add_pairs(["XRP/USDT:USDT"])  # listed, but ccxt refuses it
        await wait_for(lambda: "XRP/USDT:USDT" in recorder.pairs and "XRP/USDT:USDT" not in link.stores)
        assert link.acks_needed == needed and link.pending == [] and link.live
        events = burst(start_ms(), n=20)
        server.feed(events)
        await wait_for(lambda: link.events >= 20)

    with caplog.at_level("WARNING"):
        recorder = asyncio.run(record_with(tmp_path, script, exchanges=("bybit",)))
    assert "not recording SOL/USDT:USDT (not listed there)" in caplog.text
    assert "not recording XRP/USDT:USDT" in caplog.text
    assert set(recorder.links["bybit"].stores) == set(PAIRS)
    assert list_exchanges(tmp_path, "XRP/USDT:USDT") == [] and list_exchanges(tmp_path, "SOL/USDT:USDT") == []
    for pair in PAIRS:
        rec = _read(tmp_path, pair, "bybit")
        assert rec.gaps.empty and len(rec.events) == 10


def test_an_unlisted_pair_at_the_start_costs_its_group_nothing(tmp_path, monkeypatch, caplog):
    """ETH missing from both exchanges' markets: Binance subscribes BTC alone (one call for
    every pair), Bybit drops ETH's own subscription; both go live and record BTC."""
    from liqrisk.tools.record import recorder as recorder_module

    real_markets = recorder_module.offline_markets
    monkeypatch.setattr(recorder_module, "offline_markets",
                        lambda pairs, spec=None: real_markets([p for p in pairs if not p.startswith("ETH")], spec))

    async def script(server, recorder):
        server.feed(burst(start_ms(), n=20))
        await wait_for(lambda: recorder.links["bybit"].events >= 10 and recorder.links["binance"].events >= 1)

    with caplog.at_level("WARNING"):
        recorder = asyncio.run(record_with(tmp_path, script))
    assert "cannot write per-candle sums" not in caplog.text  # of a pair no exchange records
    for exchange in ("binance", "bybit"):
        assert f"{exchange}: not recording ETH/USDT:USDT (not listed there)" in caplog.text
        assert list(recorder.links[exchange].stores) == [PAIRS[0]]
        rec = _read(tmp_path, PAIRS[0], exchange)
        assert rec.gaps.empty and len(rec.events) >= 1
    assert list_exchanges(tmp_path, PAIRS[1]) == []
