"""The mixin on real prices: LiqRiskSample vs LiqRiskSampleBaseline backtested on real candles.

Two datasets from ``../shared/data/real-intraday`` (internal reference data; nothing is
copied into the repository: everything goes to a temporary datadir that is deleted):

1. **Real 1h with OI**: ``{BTC,ETH,SOL}_1h_coinalyze_2024-06_2024-08.csv``, Binance USDT
   perps, 2024-06-19 → 2024-08-19 (with the 2024-08-05 crash). Converted with
   ``liqrisk.tools.demo.realdata.store_candle_csv`` (freqtrade's own data handler) into
   ``futures`` and ``open_interest`` files. The CSV's OI is the OI at the candle's close; it
   is stored stamped with the candle's open date, which freqtrade and the engine read as
   known at the close: no lookahead. The strategies run at **1h** through the config's
   ``timeframe`` (freqtrade's own override; the strategy files are unchanged). So the
   sample's ROI table (minutes) and its 600 startup candles (25 days at 1h) are as written:
   the backtest starts about 2024-07-15, after the warm-up.
   Extra column: stop-outs in real cascade hours, i.e. stop-loss exits whose exit candle is
   in the top 1% of actual Binance liquidations (long + short USD) of its pair, the top 1%
   taken over the file's whole span (15 hours per pair).
2. **Real 5m without OI** (the volume-proxy path): ``freqtrade-futures/{BTC,ETH}_USDT_USDT-
   5m-futures.feather``, 2023-01-01 → 2024-05-14, copied as they are. Strategies at 5m.

Neither set has funding or mark candles, so freqtrade charges no funding fees and the mixin
runs without funding (its funding veto is off) and without mark prices. Both strategies
run in one ``freqtrade backtesting --strategy-list`` per dataset against the local exchange
(``liqrisk exchange`` on 127.0.0.1), exactly as a user would run them.

    .venv/bin/python benchmarks/backtest_real.py [--quick] [--out FILE.json]

``--quick``: three weeks of the 1h set and one month of the 5m set (a smoke run).
Skips (exit 0) when ``../shared`` is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "data" / "real-intraday"
sys.path.insert(0, str(REPO))

STRATEGIES = ["LiqRiskSample", "LiqRiskSampleBaseline"]
#: Candles at the start of each set left out of the cluster-distance medians (the 1w window's warm-up).
WARMUP = {"1h": 200, "5m": 2200}
CSV_1H = [REAL / f"{c}_1h_coinalyze_2024-06_2024-08.csv" for c in ("BTC", "ETH", "SOL")]
FEATHER_5M = [REAL / "freqtrade-futures" / f"{c}_USDT_USDT-5m-futures.feather" for c in ("BTC", "ETH")]
#: Timeranges: full runs start at the data's first day (freqtrade keeps the startup candles
#: out of the backtest), quick runs are short spans near the end.
TIMERANGES = {("1h", False): "20240619-20240820", ("1h", True): "20240729-20240819",
              ("5m", False): "20230101-20240515", ("5m", True): "20240414-20240514"}


def _run_dataset(name: str, datadir: Path, pairs: list[str], timeframe: str, timerange: str, tmp: Path,
                 cascades: dict | None) -> dict:
    from liqrisk.tools.demo.freqtrade_run import (
        backtest_args,
        latest_backtest,
        load_config,
        point_config,
        read_backtest,
        write_config,
    )
    from liqrisk.tools.demo.processes import ExchangeProcess, log_tail, run_freqtrade
    from liqrisk.tools.demo.realdata import read_trades, stop_outs

    work = tmp / name
    userdir, result_dir = work / "user_data", work / "user_data" / "backtest_results"
    result_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    with ExchangeProcess(datadir, log=work / "exchange.log", cwd=REPO) as exchange:
        cfg = point_config(load_config(REPO / "user_data" / "config.offline.json"), exchange.url, pairs=pairs,
                           timeframe=timeframe, user_data_dir=str(userdir))
        config = write_config(cfg, work)
        args = backtest_args(config, datadir=datadir, userdir=userdir, strategy_path=REPO / "strategies",
                             strategies=STRATEGIES, timerange=timerange, result_dir=result_dir)
        log = work / "backtesting.log"
        code = run_freqtrade(args, log=log, cwd=work, timeout=3600)
    seconds = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"{name}: freqtrade backtesting exited with code {code}:\n{log_tail(log, 40)}")
    path = latest_backtest(result_dir)
    summary, trades = read_backtest(path), read_trades(path)
    out = {"dataset": name, "pairs": pairs, "timeframe": timeframe, "timerange": timerange,
           "backtest_seconds": round(seconds, 1), "strategies": {}}
    for strat in STRATEGIES:
        s = summary.get(strat)
        if s is None:
            sys.exit(f"{name}: no result for {strat} in {path}; see {log}.")
        row = {"trades": s.trades, "profit_pct": 100 * s.profit_ratio, "max_drawdown_pct": 100 * s.max_drawdown_ratio,
               "winrate_pct": 100 * s.winrate, "start": s.start, "end": s.end}
        row.update(stop_outs(trades[strat], timeframe, cascades))
        out["strategies"][strat] = row
    text = log.read_text(encoding="utf-8", errors="replace")
    out["volume_proxy_pairs"] = [p for p in pairs if f"{p} uses the volume proxy" in text]
    reports = sorted(result_dir.glob("liqrisk-LiqRiskSample-*.json"))
    if reports:
        out["mixin_report"] = json.loads(reports[-1].read_text(encoding="utf-8")).get("summary")
    return out


COLUMNS = [("trades", "trades", "{:d}"), ("profit_pct", "profit %", "{:+.2f}"),
           ("max_drawdown_pct", "max DD %", "{:.2f}"), ("winrate_pct", "win %", "{:.1f}"),
           ("stop_outs", "stop-outs", "{:d}"), ("stop_outs_in_cascades", "stops in cascade h", "{:d}")]


def _table(res: dict, title: str) -> str:
    cols = [c for c in COLUMNS if c[0] in res["strategies"][STRATEGIES[0]]]
    rows = [[name] + [fmt.format(res["strategies"][name][key]) for key, _, fmt in cols] for name in STRATEGIES]
    a, b = (res["strategies"][s] for s in STRATEGIES)
    diff = []
    for key, _, _fmt in cols:
        d = a[key] - b[key]
        diff.append(("{:+d}" if isinstance(d, int) else "{:+.2f}").format(d))
    rows.append(["sample - baseline"] + diff)
    head = ["strategy"] + [label for _, label, _ in cols]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))  # noqa: E731
    s = a
    lines = [title, f"backtest {s['start'][:16]} -> {s['end'][:16]} UTC, {res['timeframe']}, "
                    f"pairs {', '.join(p.split('/')[0] for p in res['pairs'])}; freqtrade took {res['backtest_seconds']:.0f} s",
             line(head), "  ".join("-" * w for w in widths), *map(line, rows)]
    rep = res.get("mixin_report")
    if rep:
        vetoes = sum((rep.get("veto") or {}).values()) if isinstance(rep.get("veto"), dict) else rep.get("veto")
        lines.append(f"mixin: {rep.get('entries_checked', '?')} entries checked, vetoes {vetoes}, "
                     f"stops moved {_total(rep.get('stop_moved'))} (stop exits after a move {_total(rep.get('stop_exit'))}), leverage capped {_total(rep.get('leverage_capped'))}; "
                     f"OI from the volume proxy for: {', '.join(res['volume_proxy_pairs']) or 'no pair'}")
    return "\n".join(lines)


def _distance_line(dist: dict) -> str:
    parts = [f"{p.split('/')[0]} {100 * d['below']:.1f}% below / {100 * d['above']:.1f}% above" for p, d in dist.items()]
    return ("median distance from the close to the nearest estimated 1d cluster (default model keys): "
            + "; ".join(parts) + " (the sample's stop is 2% of price, the veto distance 2%)")


def _total(v) -> object:
    return sum(v.values()) if isinstance(v, dict) else v


def _where_it_does_not_help(res: dict, cascade: bool) -> list[str]:
    a, b = (res["strategies"][s] for s in STRATEGIES)
    out = []
    if a["profit_pct"] <= b["profit_pct"]:
        out.append(f"profit: the mixin did not add profit ({a['profit_pct']:+.2f}% vs {b['profit_pct']:+.2f}%).")
    if a["max_drawdown_pct"] >= b["max_drawdown_pct"]:
        out.append(f"drawdown: no smaller ({a['max_drawdown_pct']:.2f}% vs {b['max_drawdown_pct']:.2f}%).")
    if a["stop_outs"] >= b["stop_outs"]:
        out.append(f"stop-outs: no fewer ({a['stop_outs']} vs {b['stop_outs']}).")
    if cascade and a["stop_outs_in_cascades"] + b["stop_outs_in_cascades"] == 0:
        out.append("cascade hours: neither strategy was stopped out in one, so this column cannot show a "
                   "benefit on this data.")
    elif cascade and a["stop_outs_in_cascades"] >= b["stop_outs_in_cascades"]:
        out.append(f"cascade hours: no fewer stop-outs inside them ({a['stop_outs_in_cascades']} vs "
                   f"{b['stop_outs_in_cascades']}).")
    if not out:
        out.append("on every figure above the sample did at least as well as the baseline.")
    if a["profit_pct"] < 0 and b["profit_pct"] < 0:
        out.append("both lose money: the sample's signals have no edge on these prices; the mixin can trim "
                   "losses, it does not make a losing strategy win.")
    if res.get("volume_proxy_pairs"):
        out.append("no open interest here: the clusters come from the volume proxy (liq_oi_fallback=1).")
    trades = a["trades"] + b["trades"]
    out.append(f"caveat: one strategy, {len(res['pairs'])} pairs, one period, {trades} trades in all"
               + (", too few to tell skill from luck" if trades < 200 else "") + "; no funding data, so the "
               "funding veto never fired.")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short subranges (smoke run)")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    ap.add_argument("--only", choices=["1h", "5m"], help="run one dataset")
    args = ap.parse_args()
    missing = [p for p in [*CSV_1H, *FEATHER_5M] if not p.is_file()]
    if not SHARED.is_dir() or missing:
        print(f"skipped: the real data is not here ({SHARED} absent)" if not SHARED.is_dir() else
              f"skipped: missing {', '.join(str(p) for p in missing)}")
        return 0

    # The engine's one-line data notes (no funding, OI proxy) are summed up in the tables.
    logging.getLogger("liqrisk").setLevel(logging.ERROR)
    from liqrisk.tools.demo.processes import subprocess_env
    from liqrisk.tools.demo.realdata import (
        cascade_candles,
        copy_freqtrade_files,
        nearest_cluster_distance,
        pair_from_filename,
        store_candle_csv,
    )

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "liqrisk"], cwd=REPO, capture_output=True,
                           text=True).stdout.strip()
    started = time.perf_counter()
    results: dict = {"commit": commit.strip(), "liqrisk_tree_dirty": bool(dirty), "quick": args.quick, "datasets": {}}
    # Load (or compile) the numba kernels once, outside the timed backtests.
    subprocess.run([sys.executable, "-c", "from liqrisk.core.synthetic import random_market; import liqrisk; "
                    "m = random_market(500, seed=1); liqrisk.compute_features(m['ohlcv'], pair='BTC/USDT:USDT')"],
                   check=True, cwd=REPO, env=subprocess_env(), capture_output=True)
    with tempfile.TemporaryDirectory(prefix="liqrisk-real-") as tmp:
        tmp = Path(tmp)
        if args.only in (None, "1h"):
            datadir = tmp / "data-1h"
            cascades, thresholds, dist = {}, {}, {}
            for path in CSV_1H:
                pair = pair_from_filename(path)
                cf = store_candle_csv(path, datadir, pair=pair)
                cascades[pair], thresholds[pair] = cascade_candles(cf.actual)
                dist[pair] = nearest_cluster_distance(cf.ohlcv, open_interest=cf.open_interest, pair=pair,
                                                      timeframe="1h", skip=WARMUP["1h"])
            res = _run_dataset("real-1h-oi", datadir, list(cascades), "1h", TIMERANGES[("1h", args.quick)], tmp,
                               cascades)
            res["nearest_cluster_distance"] = dist
            res["cascade_threshold_usd"] = {p: round(v) for p, v in thresholds.items()}
            res["cascade_hours_in_backtest"] = {
                p: int(((d >= res["strategies"][STRATEGIES[0]]["start"]) & (d < res["strategies"][STRATEGIES[0]]["end"]))
                       .sum()) for p, d in cascades.items()}
            results["datasets"]["1h"] = res
            print(_table(res, "== Real 1h Binance perps WITH open interest (Coinalyze, BTC/ETH/SOL, 2024-06..08) =="))
            print(_distance_line(dist))
            print("cascade hours = top 1% of actual liquidation USD per pair over the file "
                  f"({', '.join(f'{p.split(chr(47))[0]} >= {v / 1e6:.1f}M' for p, v in thresholds.items())}); "
                  f"inside the backtest: {res['cascade_hours_in_backtest']}")
            print("where the mixin does not help:")
            print("\n".join(f"  - {line}" for line in _where_it_does_not_help(res, True)))
            print(flush=True)
        if args.only in (None, "5m"):
            datadir = tmp / "data-5m"
            copy_freqtrade_files(FEATHER_5M, datadir)
            pairs = [pair_from_filename(p) for p in FEATHER_5M]
            dist = {}
            for path, pair in zip(FEATHER_5M, pairs, strict=True):
                ohlcv = pd.read_feather(path)
                if args.quick:
                    ohlcv = ohlcv[ohlcv["date"] >= ohlcv["date"].iloc[-1] - pd.Timedelta(days=40)].reset_index(drop=True)
                dist[pair] = nearest_cluster_distance(ohlcv, pair=pair, timeframe="5m", skip=WARMUP["5m"])
            res = _run_dataset("real-5m-no-oi", datadir, pairs, "5m", TIMERANGES[("5m", args.quick)], tmp, None)
            res["nearest_cluster_distance"] = dist
            results["datasets"]["5m"] = res
            print(_table(res, "== Real 5m Binance perps WITHOUT open interest (volume proxy; BTC/ETH, "
                              "2023-01..2024-05) =="))
            print(_distance_line(dist))
            print("where the mixin does not help:")
            print("\n".join(f"  - {line}" for line in _where_it_does_not_help(res, False)))
            print(flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(f"total {results['seconds']:.0f} s; liqrisk at commit {results['commit']}"
          f"{' + uncommitted changes in liqrisk/' if dirty else ''}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
