"""OKX as a recording venue, against the local WebSocket server through ccxt pro okx:
every event of a few seconds recorded exactly (contracts x ctVal in coins, x price in USD),
the sample when the server samples as OKX documents (a dropped link as one gap with no
duplicate: ``test_recording.test_dropped_connection_is_a_gap_and_replays_are_not_duplicated``)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pandas as pd

from liqrisk.tools.exchange.liquidation_ws import LiquidationWsServer, now_ms, wire_events
from liqrisk.tools.record.read import read_recorded
from liqrisk.tools.record.venues import offline_markets, venue
from tests.tools.record.conftest import PAIRS, burst, expected, record_with, recorded, start_ms, wait_for


def _read(datadir, pair):
    return read_recorded(datadir, pair, ["okx"], timeframe="5m")


def test_okx_markets_and_sides_as_data():
    spec = venue("okx")
    assert spec.long_side == "sell" and spec.sampled and spec.multi_symbol
    btc, eth = offline_markets(PAIRS, spec)
    assert (btc["id"], btc["contractSize"]) == ("BTC-USDT-SWAP", 0.01)
    assert (eth["id"], eth["contractSize"]) == ("ETH-USDT-SWAP", 0.1)


def test_okx_recording_equals_every_fed_event(tmp_path):
    fed = {}

    async def script(server, recorder):
        fed["events"] = burst(start_ms(), n=50)  # about five per pair and second: several details per push
        server.feed(fed["events"])
        last = int(fed["events"]["date"].max())
        await wait_for(lambda: recorder.links["okx"].events >= 50 and now_ms() > last + 1500)

    asyncio.run(record_with(tmp_path, script, exchanges=["okx"], okx_sampling=False))
    events = fed["events"]
    for pair in PAIRS:
        rec = _read(tmp_path, pair)
        mine = events[events["pair"] == pair]
        want = expected(wire_events(mine, "okx", sampled=False))
        got = recorded(rec.events)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
        assert rec.gaps.empty and rec.events["event_id"].is_unique
        assert (rec.events["usd"] == rec.events["price"] * rec.events["qty"]).all()
        # contracts x ctVal gives back the coins that were fed (8 significant digits on the wire)
        fed_qty = expected(mine[["date", "pair", "side", "price", "qty"]].reset_index(drop=True))["qty"]
        assert ((got["qty"] - fed_qty).abs() <= 1e-7 * fed_qty).all()
        assert (got["side"] == expected(mine.reset_index(drop=True))["side"]).all()


def test_okx_text_ping_and_subscribe_replies(tmp_path):
    async def main():
        server = await LiquidationWsServer().start()
        try:
            async with aiohttp.ClientSession() as session, \
                    session.ws_connect(server.urls["okx"] + "/public") as ws:
                await ws.send_str("ping")
                assert (await ws.receive(5)).data == "pong"
                arg = {"channel": "liquidation-orders", "instType": "SWAP"}
                await ws.send_str(json.dumps({"op": "subscribe", "args": [arg]}))
                reply = json.loads((await ws.receive(5)).data)
                assert reply["event"] == "subscribe" and reply["arg"] == arg
                await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "nope", "instType": "SWAP"}]}))
                assert json.loads((await ws.receive(5)).data)["event"] == "error"
        finally:
            await server.stop()

    asyncio.run(main())
