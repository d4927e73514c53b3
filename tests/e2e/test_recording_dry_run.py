"""A dry-run bot that records liquidations trades as one that does not (#18).

Two ``E2eLiqRisk1m`` bots (``LiqRiskMixin`` on 1m) run side by side for about two minutes
(``LIQRISK_E2E_RECORD_S``, default 130) against ``liqrisk exchange --live`` with HTTP faults
and WebSocket faults (dropped connections, late frames). One has ``"liqrisk_record":
{"enabled": true}`` in its config: it records the local exchange's Binance liquidation stream
(found from its loopback ``ccxt_config``) into its datadir. Checked:

* both stay up, exit on SIGINT within 10 s, with no traceback;
* the recording bot recorded (a store with a span per pair, coverage and gaps);
* on every candle both analysed, the ``liq_*`` values they logged are equal, and every trade
  both opened in the same minute has the same entry rate and stops.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from liqrisk.tools.demo.processes import ExchangeProcess, free_port
from liqrisk.tools.record.store import pair_dirname
from liqrisk.tools.sim.writer import simulate_datadir

from .conftest import STOP_LIMIT_S, Bot, dry_run_config, stop_bots
from .test_dry_run import MIXIN, PAIRS, _mixin_available

FAULTS = "429:0.05,500:0.02,ws_drop:0.03,ws_delay:0.2"
RUN_S = float(os.environ.get("LIQRISK_E2E_RECORD_S", "130"))
_LIQ = re.compile(r"E2E liq pair=(\S+) last=(\S+) rows=\d+ (.*)$", re.M)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not _mixin_available():
        pytest.skip(f"{MIXIN} needs strategies/LiqRiskSample.py and liqrisk.adapter")
    tmp = tmp_path_factory.mktemp("record-dry-run")
    datadir = tmp / "data"
    simulate_datadir(datadir, PAIRS, days=2, seed=42)
    exchange = ExchangeProcess(datadir, port=0, log=tmp / "exchange.log",
                               extra=["--live", "--seed", "42", "--faults", FAULTS, "--fault-seed", "5"])
    bots: dict[str, Bot] = {}
    out: dict[str, dict] = {}
    try:
        exchange.start()
        for name, section in (("plain", None), ("recording", {"enabled": True})):
            folder = tmp / name
            folder.mkdir()
            port = free_port()
            extra = {"liqrisk_record": section} if section else {}
            bots[name] = Bot(dry_run_config(exchange.url, PAIRS, folder, port, **extra), MIXIN, folder, port)
        for bot in bots.values():
            bot.wait_api()
        t0 = time.monotonic()
        while time.monotonic() - t0 < RUN_S and all(b.proc.poll() is None for b in bots.values()):
            time.sleep(2.0)
        alive = {name: bot.proc.poll() is None for name, bot in bots.items()}
    finally:
        stop_bots(bots.values())
        exchange.stop()
    for name, bot in bots.items():
        out[name] = {"alive": alive[name], "exit": bot.proc.returncode, "stop_s": bot.stop_s,
                     "log": bot.log.read_text(errors="replace"), "trades": bot.trades_in_db(),
                     "store": tmp / name / "user_data" / "data" / "binance" / "liqrisk_liquidations" / "binance"}
    out["exchange_log"] = exchange.log.read_text(errors="replace")
    return out


@pytest.mark.parametrize("name", ["plain", "recording"])
def test_bot_stays_up_and_stops_on_sigint(runs, name):
    run = runs[name]
    tail = "\n".join(run["log"].splitlines()[-60:])
    assert run["alive"], tail
    assert run["exit"] == 130 and run["stop_s"] is not None and run["stop_s"] <= STOP_LIMIT_S, (run["stop_s"], tail)
    assert "Traceback" not in run["log"] and " CRITICAL " not in run["log"], tail


def test_recording_bot_recorded_through_faults(runs):
    log = runs["recording"]["log"]
    assert "liqrisk: recording binance liquidations of BTC/USDT:USDT, ETH/USDT:USDT" in log, log[-3000:]
    assert "liqrisk: recording" not in runs["plain"]["log"]
    assert "injected fault" in runs["exchange_log"]
    if "injected fault ws_drop" in runs["exchange_log"]:  # drawn per wall-clock second: most runs
        assert "binance: stream broke" in log, log[-3000:]
    for pair in PAIRS:
        folder = runs["recording"]["store"] / pair_dirname(pair)
        span = json.loads((folder / "span.json").read_text())
        assert span["end_ms"] > span["start_ms"], span


def test_trades_and_stops_unchanged_by_recording(runs):
    liq = {name: {(m[0], m[1]): m[2] for m in _LIQ.findall(runs[name]["log"])} for name in ("plain", "recording")}
    common = set(liq["plain"]) & set(liq["recording"])
    assert len(common) >= 2, (sorted(liq["plain"])[-3:], sorted(liq["recording"])[-3:])
    for key in common:
        assert liq["plain"][key] == liq["recording"][key], key

    # Prices move once a minute (the simulator closes a candle): two entries at the same rate
    # were made in the same minute, so the same rules saw the same features.
    trades = {name: {(t["pair"], t["open_rate"]): t for t in runs[name]["trades"] if t["amount"]}
              for name in ("plain", "recording")}
    shared = set(trades["plain"]) & set(trades["recording"])
    assert shared, (trades["plain"].keys(), trades["recording"].keys())
    for key in shared:
        a, b = trades["plain"][key], trades["recording"][key]
        assert a["initial_stop_loss"] == pytest.approx(b["initial_stop_loss"], rel=1e-9), (a, b)
