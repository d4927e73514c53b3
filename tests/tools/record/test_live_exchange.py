"""``liqrisk exchange --live`` serves the liquidation streams beside its REST API, fed from the
simulator as the live market closes minutes; ``--faults ws_drop:R,ws_delay:R`` hurt them.

The server's clock starts 90 minutes behind the wall clock and runs 300x faster until it
catches up, so ninety simulated minutes (and their liquidations, in the wall clock's past,
pushed at once) pass in about 18 s.
"""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from liqrisk.tools.exchange.liquidation_ws import LiquidationWsServer, wire_events, ws_urls
from liqrisk.tools.exchange.live_liquidations import WsFaults, split_ws_faults
from liqrisk.tools.exchange.server import ServerThread
from liqrisk.tools.record.read import read_recorded
from liqrisk.tools.record.recorder import RecorderThread, RecordSettings
from liqrisk.tools.sim.stream import LiveMarket
from liqrisk.tools.sim.writer import simulate_datadir
from tests.tools.record.conftest import PAIRS, expected, recorded

BEHIND_MS, SPEED = 90 * 60_000, 300.0


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "data"
    # A dense market (10x the default cohorts) liquidates in any 90 minutes, whatever the
    # wall-clock time the live market starts from.
    simulate_datadir(path, PAIRS, days=1, seed=7, cohorts_per_minute=30.0)
    return path


class FastClock:
    """Stands still at ``now - BEHIND_MS`` until ``go``, then runs ``SPEED`` x up to the wall clock."""

    def __init__(self):
        self.t0 = time.time() * 1000
        self.go = threading.Event()
        self.started = 0.0

    def __call__(self) -> int:
        start = self.t0 - BEHIND_MS
        if not self.go.is_set():
            return int(start)
        return int(min(time.time() * 1000, start + (time.time() * 1000 - self.started) * SPEED))

    def run(self):
        self.started = time.time() * 1000
        self.go.set()


def _serve_and_record(datadir, tmp_path, faults: WsFaults | None, seconds: float = 22.0):
    clock = FastClock()
    market = LiveMarket(datadir, pairs=PAIRS, seed=7, now_ms=clock())
    liq = LiquidationWsServer(faults=faults)
    with ServerThread(market, clock=clock, liquidations=liq) as srv:
        urls = ws_urls(srv.url)
        assert urls["bybit"].startswith("ws://127.0.0.1:")
        rec = RecorderThread(RecordSettings(pairs=PAIRS, exchanges=["binance", "bybit"], datadir=tmp_path,
                                            ws_urls=urls, flush_s=0.2, candles_s=1000.0, backoff_s=(0.2, 1.0)))
        rec.start()
        try:
            assert rec.recorder.ready.wait(20), rec.recorder.progress()
            clock.run()
            time.sleep(seconds)
        finally:
            rec.stop(20)
        fed = pd.concat([market.liquidations(p, int(clock.t0 - BEHIND_MS - 60_000)).assign(pair=p) for p in PAIRS])
    return fed, liq


def test_live_streams_are_the_simulator_liquidations(datadir, tmp_path):
    fed, liq = _serve_and_record(datadir, tmp_path, None)
    assert len(fed) >= 5, "the simulator liquidated too little in 90 minutes for a test"
    # The streams push a minute once it closes, up to a minute behind the candles: on a busy
    # machine the recording can stop before the last minutes went out. Everything up to the
    # last recorded minute must be there, exactly.
    got = recorded(pd.concat([read_recorded(tmp_path, p, ["bybit"]).events for p in PAIRS]))
    cut = (int(got["date"].max()) // 60_000 + 1) * 60_000
    want = expected(wire_events(fed, "bybit"))
    assert len(want[want["date"] < cut]) >= 5
    pd.testing.assert_frame_equal(got, want[want["date"] < cut].reset_index(drop=True), check_dtype=False)
    got = recorded(pd.concat([read_recorded(tmp_path, p, ["binance"]).events for p in PAIRS]))
    sample = expected(wire_events(fed, "binance"))
    sample = sample[sample["date"] < cut].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[got["date"] < cut].reset_index(drop=True), sample, check_dtype=False)
    assert liq.sent > 0 and liq.dropped == 0


def test_ws_faults_drop_and_delay_without_duplicates(datadir, tmp_path):
    http, faults = split_ws_faults("429:0.05,ws_drop:0.15,ws_delay:0.3", seed=3)
    assert http == "429:0.05" and faults == WsFaults(drop_per_s=0.15, delay_share=0.3, seed=3)
    fed, liq = _serve_and_record(datadir, tmp_path, faults)
    assert liq.dropped >= 1 and liq.delayed >= 1, (liq.dropped, liq.delayed)
    want = expected(wire_events(fed, "bybit"))
    for pair in PAIRS:
        rec = read_recorded(tmp_path, pair, ["bybit"])
        assert rec.events["event_id"].is_unique
        assert not rec.gaps.empty or liq.dropped == 0
        got = recorded(rec.events)
        merged = got.merge(want, how="left", indicator=True)
        assert (merged["_merge"] == "both").all()  # nothing recorded that was not fed


def test_split_ws_faults_rejects_bad_rates():
    with pytest.raises(ValueError, match="ws_drop"):
        split_ws_faults("ws_drop:2")
    assert split_ws_faults("429:0.1") == ("429:0.1", None)


def test_exchange_cli_passes_archive_and_ws_faults(monkeypatch):
    import argparse

    from liqrisk.cli import exchange as cli
    from liqrisk.tools.exchange import server, source

    seen = {}
    monkeypatch.setattr(source, "open_source", lambda *a, **k: type("S", (), {"pairs": []})())
    monkeypatch.setattr(server, "run", lambda src, **kw: seen.update(kw))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--faults", "500:0.1,ws_drop:0.05", "--fault-seed", "9", "--archive-missing",
                              "BTCUSDT:2025-01-05", "ETHUSDT:2025-01-06", "--archive-broken", "BTCUSDT:2025-01-07"])
    assert cli.start(args) == 0
    assert seen["archive_faults"].missing == {("BTCUSDT", "2025-01-05"), ("ETHUSDT", "2025-01-06")}
    assert seen["archive_faults"].broken == {("BTCUSDT", "2025-01-07")} and not seen["archive_faults"].corrupt
    assert seen["ws_faults"] == WsFaults(drop_per_s=0.05, seed=9) and seen["faults"].rates == {"500": 0.1}
    for bad in ("BTCUSDT:2025-02-30", "btcusdt:2025-01-01", "BTCUSDT:1999-01-01", "BTCUSDT"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--archive-corrupt", bad])
    too_many = parser.parse_args(["--archive-missing", *[f"BTCUSDT:{d:%Y-%m-%d}" for d in
                                                        pd.date_range("2024-01-01", periods=367)]])
    assert cli.start(too_many) == 2
