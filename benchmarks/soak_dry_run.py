"""Soak: two dry-run bots for ``--minutes`` (default 30) against the faulty live local exchange.

Not part of CI. It starts ``liqrisk exchange --live --faults 429:0.05,500:0.02,timeout:0.01``
on a freshly simulated market (2 days, BTC and ETH) and two ``freqtrade trade`` dry-run bots,
each trading both pairs (two bots, two pairs each):

* ``SoakLiqRiskSample``: ``strategies/LiqRiskSample.py`` (``LiqRiskMixin``);
* ``SoakLiqRiskSampleBaseline``: ``strategies/LiqRiskSampleBaseline.py`` (same signals, no mixin).

Both are the samples' own signals on 1m candles plus a "churn" entry (long at minutes
divisible by 6, short at minutes ≡ 3 mod 6) and a forced ROI exit after 4 minutes, so trades
open and close all the time instead of a few times a day; the mixin's rules stay on (its
windows are 30m/2h so a 1m bot needs little history). Stops are placed on the exchange side
(``stoploss_on_exchange``: in dry-run, freqtrade's simulated stop orders in its database),
so each stop the bot believes in is also an order that can be checked.

Every ``--sample-s`` seconds the bots' REST API (loopback) is read (``/status``, ``/trades``,
``/health``) with their RSS (psutil). At the end both get SIGINT together; the databases are
read after they stopped. Printed per bot:

* uptime: seconds from the API's first answer to SIGINT, whether the process lived
  throughout, the API samples that answered, the oldest ``/health`` last-process age seen;
* trades opened (entry filled) and closed (by exit reason), open at the end;
* stops: stop orders placed, replaced (cancelled by freqtrade to move them), cancelled when
  the trade exited otherwise, triggered,
  open on the exchange side at the end vs open trades, the largest gap between an open stop
  order's price and the trade's stop;
* RSS at start, end and peak (MB); seconds from SIGINT to exit and the exit code.

**Lost** (must be 0; the exit code is 1 otherwise):

* *unprotected*: an open trade whose entry filled and that has no open stop order, in the
  final database, or in two API samples in a row more than ``GRACE_S`` after the fill;
* *orphan stop*: an open stop order on a closed trade, or more than one open stop order on
  a trade (final database);
* *missing*: a trade the API showed that is not in the final database, or a trade in the
  database opened before the last API read that this read did not list (``/status`` for
  open trades, ``/trades`` for closed ones);
* *closed without exit*: a closed trade without close date, rate or exit reason, or without
  a filled exit order (an exit-side order or its stop order).

    .venv/bin/python benchmarks/soak_dry_run.py [--minutes 30] [--sample-s 10] [--keep DIR]

The harness (``Bot``, the config, SIGINT handling) is the e2e tests' (``tests/e2e/conftest.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liqrisk.tools.demo.processes import ExchangeProcess, free_port  # noqa: E402
from liqrisk.tools.sim.writer import simulate_datadir  # noqa: E402
from tests.e2e.conftest import Bot, dry_run_config, stop_bots  # noqa: E402

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
FAULTS = "429:0.05,500:0.02,timeout:0.01"
GRACE_S = 30.0  # seconds after an entry fill before a missing stop order counts
BOTS = ["SoakLiqRiskSample", "SoakLiqRiskSampleBaseline"]

STRATEGY_FILE = '''"""Soak variant of {base}: 1m candles, a churn entry every 3 minutes, exit after 4."""
import sys

sys.path.insert(0, {strategies!r})

from {base} import {base}  # noqa: E402


class {name}({base}):
    timeframe = "1m"
    startup_candle_count = 240
    minimal_roi = {{"0": 0.10, "4": -1}}  # -1: exit after 4 minutes whatever the profit
    liqrisk_config = {{"windows": ["30m", "2h"]}}
    liqrisk_window = "2h"

    def populate_entry_trend(self, dataframe, metadata):
        dataframe = super().populate_entry_trend(dataframe, metadata)
        minute = dataframe["date"].dt.minute
        dataframe.loc[minute % 6 == 0, "enter_long"] = 1
        dataframe.loc[minute % 6 == 3, "enter_short"] = 1
        return dataframe
'''


def write_strategies(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in BOTS:
        base = name.removeprefix("Soak")
        (folder / f"{name}.py").write_text(
            STRATEGY_FILE.format(name=name, base=base, strategies=str(REPO / "strategies")))


def rss_mb(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


@dataclass
class Soak:
    name: str
    bot: Bot
    api_up: float = 0.0  # monotonic, first API answer
    samples: int = 0
    answered: int = 0
    not_running: int = 0  # samples whose /show_config state was not "running"
    worst_process_age_s: float = 0.0
    rss: list[float] = field(default_factory=list)
    seen: dict[int, dict] = field(default_factory=dict)  # trade id -> last API view
    no_stop_streak: dict[int, int] = field(default_factory=dict)
    unprotected_run: set[int] = field(default_factory=set)
    last_listed: set[int] | None = None  # trade ids of the last read: /status (open) + /trades (closed)
    last_read_ms: int = 0
    alive_throughout: bool = True
    sigint_at: float = 0.0


def _open_stops(trade: dict) -> list[dict]:
    return [o for o in trade.get("orders") or [] if o.get("ft_order_side") == "stoploss" and o.get("is_open")]


def sample(s: Soak) -> None:
    s.samples += 1
    if s.bot.proc.poll() is not None:
        s.alive_throughout = False
        return
    rss = rss_mb(s.bot.proc.pid)
    if rss is not None:
        s.rss.append(rss)
    read_ms = int(time.time() * 1000)
    status = s.bot.try_get("status")
    trades = s.bot.try_get("trades?limit=500")
    health = s.bot.try_get("health")
    config = s.bot.try_get("show_config")
    if status is None or trades is None:
        return
    s.answered += 1
    if config is not None and config.get("state") != "running":
        s.not_running += 1
    if health and health.get("last_process_ts"):
        s.worst_process_age_s = max(s.worst_process_age_s, time.time() - float(health["last_process_ts"]))
    listed = [*status, *trades.get("trades", [])]  # /trades lists closed trades only
    s.last_listed, s.last_read_ms = {t["trade_id"] for t in listed}, read_ms
    for t in listed:
        s.seen[t["trade_id"]] = t
    for t in status:
        filled_ms = t.get("open_fill_timestamp")
        if not filled_ms or read_ms - filled_ms < GRACE_S * 1000:
            continue
        tid = t["trade_id"]
        s.no_stop_streak[tid] = 0 if _open_stops(t) else s.no_stop_streak.get(tid, 0) + 1
        if s.no_stop_streak[tid] >= 2:
            s.unprotected_run.add(tid)


def read_db(path: Path) -> tuple[list[dict], list[dict]]:
    with sqlite3.connect(path) as con:
        con.row_factory = sqlite3.Row
        trades = [dict(r) for r in con.execute(
            "SELECT id, pair, is_open, is_short, open_date, close_date, close_rate, exit_reason, stop_loss, "
            "amount FROM trades ORDER BY id")]
        orders = [dict(r) for r in con.execute(
            "SELECT ft_trade_id, ft_order_side, ft_is_open, status, order_type, side, filled, stop_price, "
            "ft_cancel_reason FROM orders ORDER BY id")]
    return trades, orders


def _ms(date: str | None) -> int:
    from datetime import UTC, datetime

    dt = datetime.fromisoformat(date)
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * 1000)


def account(s: Soak) -> dict:
    """The figures of one bot, from its final database and what its API showed."""
    trades, orders = read_db(s.bot.db)
    by_trade: dict[int, list[dict]] = {}
    for o in orders:
        by_trade.setdefault(o["ft_trade_id"], []).append(o)
    stops = [o for o in orders if o["ft_order_side"] == "stoploss"]
    ids = {t["id"] for t in trades}
    lost: dict[str, list] = {"unprotected": sorted(s.unprotected_run), "orphan_stop": [], "missing": [],
                             "closed_without_exit": []}
    opened = closed = 0
    reasons: dict[str, int] = {}
    worst_gap = 0.0
    for t in trades:
        own = by_trade.get(t["id"], [])
        entry_side = "sell" if t["is_short"] else "buy"
        exit_side = "buy" if t["is_short"] else "sell"
        filled_entry = any(o["ft_order_side"] == entry_side and (o["filled"] or 0) > 0 for o in own)
        open_stops = [o for o in own if o["ft_order_side"] == "stoploss" and o["ft_is_open"]]
        opened += filled_entry
        if t["is_open"]:
            if filled_entry and not open_stops:
                lost["unprotected"].append(t["id"])
            if len(open_stops) > 1:
                lost["orphan_stop"].append(t["id"])
            for o in open_stops:
                if o["stop_price"] and t["stop_loss"]:
                    worst_gap = max(worst_gap, abs(o["stop_price"] / t["stop_loss"] - 1))
            continue
        closed += 1
        reasons[t["exit_reason"] or "?"] = reasons.get(t["exit_reason"] or "?", 0) + 1
        if open_stops:
            lost["orphan_stop"].append(t["id"])
        exited = any(o["ft_order_side"] in (exit_side, "stoploss") and (o["filled"] or 0) > 0 for o in own)
        if not (exited and t["close_date"] and t["close_rate"] and t["exit_reason"]):
            lost["closed_without_exit"].append(t["id"])
    lost["missing"] = sorted(set(s.seen) - ids)
    if s.last_listed is not None:
        lost["missing"] += [t["id"] for t in trades
                            if t["id"] not in s.last_listed and _ms(t["open_date"]) < s.last_read_ms - 1000]
    lost["unprotected"] = sorted(set(lost["unprotected"]))
    open_trades = sum(1 for t in trades if t["is_open"])
    replaced = cancelled_at_exit = 0
    for own in by_trade.values():
        own_stops = [o for o in own if o["ft_order_side"] == "stoploss"]
        cancelled = [not o["ft_is_open"] and not (o["filled"] or 0) for o in own_stops]
        replaced += sum(cancelled[:-1])  # each followed by a newer stop order on the same trade
        cancelled_at_exit += bool(cancelled and cancelled[-1])
    return {
        "uptime_s": round(s.sigint_at - s.api_up, 1),
        "alive_throughout": s.alive_throughout,
        "api_samples_answered": f"{s.answered}/{s.samples}",
        "samples_not_running": s.not_running,
        "worst_last_process_age_s": round(s.worst_process_age_s, 1),
        "trades_opened": opened, "trades_closed": closed, "exit_reasons": reasons, "open_at_end": open_trades,
        "stops_placed": len(stops),
        "stops_replaced": replaced, "stops_cancelled_at_exit": cancelled_at_exit,
        "stops_triggered": sum(1 for o in stops if (o["filled"] or 0) > 0),
        "stops_open_at_end": sum(1 for o in stops if o["ft_is_open"]),
        "worst_stop_order_gap_pct": round(100 * worst_gap, 4),
        "rss_start_mb": round(s.rss[0], 1) if s.rss else None,
        "rss_end_mb": round(s.rss[-1], 1) if s.rss else None,
        "rss_peak_mb": round(max(s.rss), 1) if s.rss else None,
        "sigint_to_exit_s": round(s.bot.stop_s, 2) if s.bot.stop_s is not None else None,
        "exit_code": s.bot.proc.returncode,
        "lost": {k: v for k, v in lost.items() if v},
        "lost_total": sum(len(v) for v in lost.values()),
    }


def run(minutes: float, sample_s: float, work: Path) -> dict:
    datadir = work / "data"
    print(f"simulating 2 days of {', '.join(PAIRS)} into {datadir} ...", flush=True)
    simulate_datadir(datadir, PAIRS, days=2, seed=42)
    strategies = work / "strategies"
    write_strategies(strategies)
    exchange = ExchangeProcess(datadir, port=0, log=work / "exchange.log",
                               extra=["--live", "--seed", "42", "--faults", FAULTS, "--fault-seed", "11"])
    soaks: list[Soak] = []
    try:
        exchange.start()
        print(f"exchange {exchange.url} (faults {FAULTS})", flush=True)
        for name in BOTS:
            folder = work / name
            folder.mkdir()
            port = free_port()
            cfg = dry_run_config(exchange.url, PAIRS, folder, port, order_types={
                "entry": "market", "exit": "market", "stoploss": "market", "stoploss_on_exchange": True})
            soaks.append(Soak(name, Bot(cfg, name, folder, port, strategy_path=strategies)))
        for s in soaks:
            s.bot.wait_api(timeout=180)
            s.api_up = time.monotonic()
        t0 = time.monotonic()
        print(f"bots up; soaking {minutes:g} min, a sample every {sample_s:g} s", flush=True)
        next_report = t0 + 300
        while time.monotonic() - t0 < minutes * 60:
            for s in soaks:
                sample(s)
            if time.monotonic() >= next_report:
                next_report += 300
                print(f"  {int((time.monotonic() - t0) / 60)} min: " + "; ".join(
                    f"{s.name} trades seen {len(s.seen)} rss {s.rss[-1] if s.rss else 0:.0f} MB" for s in soaks),
                    flush=True)
            time.sleep(sample_s)
        for s in soaks:
            sample(s)  # the last API read, just before SIGINT
            s.sigint_at = time.monotonic()
    finally:
        if soaks:
            stop_bots(s.bot for s in soaks)
        exchange_exit = exchange.stop()
    (work / "api_state.json").write_text(json.dumps({s.name: {  # what the API showed, for a later look
        "seen": sorted(s.seen), "last_listed": sorted(s.last_listed or ()), "last_read_ms": s.last_read_ms,
        "unprotected_run": sorted(s.unprotected_run), "rss": s.rss} for s in soaks}))
    faults = exchange.log.read_text(errors="replace").count("injected fault")
    return {"minutes": minutes, "faults_injected": faults, "exchange_exit": exchange_exit,
            "bots": {s.name: account(s) for s in soaks}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="soak length (default 30)")
    ap.add_argument("--sample-s", type=float, default=10.0, help="seconds between API samples (default 10)")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (logs, databases)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    if not 0 < args.minutes <= 24 * 60 or not 1 <= args.sample_s <= 300:
        ap.error("--minutes must be in (0, 1440] and --sample-s in [1, 300]")
    work = args.keep or Path(tempfile.mkdtemp(prefix="liqrisk-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.minutes, args.sample_s, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    lost = sum(b["lost_total"] for b in result["bots"].values())
    bad_exit = [n for n, b in result["bots"].items()
                if b["exit_code"] != 130 or (b["sigint_to_exit_s"] or 99) > 10 or not b["alive_throughout"]]
    print(f"lost trades or stops: {lost}; bots not up throughout or not stopped by SIGINT within 10 s: "
          f"{bad_exit or 'none'}")
    return 0 if lost == 0 and not bad_exit else 1


if __name__ == "__main__":
    sys.exit(main())
