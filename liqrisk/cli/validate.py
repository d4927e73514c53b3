"""``liqrisk validate``: score estimated liquidations per candle against actual ones.

The metrics live in ``liqrisk.tools.validate``; this module only reads flags and files,
prints the table and writes the JSON / PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liqrisk.cli._bounds import int_range

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=None,
                        help="freqtrade config file (its datadir, optional 'liqrisk' model section)")
    parser.add_argument("--datadir", default=None, help="freqtrade data folder (overrides the config's)")
    parser.add_argument("--pair", "-p", required=True, help="futures pair, e.g. BTC/USDT:USDT")
    parser.add_argument("--timeframe", "-t", default=None,
                        help="candle timeframe (default: 5m; with --csv, the file's own spacing)")
    parser.add_argument("--timerange", default=None,
                        help="freqtrade timerange to score, e.g. 20250101-20250201; one window of history before "
                             "it is loaded as warm-up (default: all data)")
    parser.add_argument("--liquidations", "-l", default=None, metavar="FILE|DIR",
                        help="actual liquidations (.csv/.feather/.parquet/.json): per candle 'date, long_usd, "
                             "short_usd' or per event 'date, side, usd'; or a folder recorded by 'liqrisk record' "
                             "(candles touching a recording gap are skipped); default: the simulator's "
                             "<datadir>/liqrisk_truth/liquidations.parquet")
    parser.add_argument("--exchanges", nargs="+", default=None, metavar="EXCHANGE",
                        help="with a recorded --liquidations folder: the exchanges to sum (default: all recorded)")
    parser.add_argument("--csv", default=None, metavar="FILE",
                        help="score one per-candle CSV instead of a datadir: OHLCV, open interest and actual "
                             "liquidations in one file (USD or coin columns; see liqrisk.tools.validate.candle_csv)")
    parser.add_argument("--columns", nargs="+", default=None, metavar="FIELD=COLUMN[:UNIT]",
                        help="with --csv: name columns the file's headers do not give, e.g. oi=oi_binance_usd "
                             "long=long_liq_coin:coin")
    parser.add_argument("--window", "-w", default=None,
                        help="window whose liq_*_est_usd_<w> is scored (default: the longest configured)")
    parser.add_argument("--model-config", default=None, metavar="FILE",
                        help="JSON object of liqrisk model keys (e.g. liqrisk/calibrated.json's 'config'); "
                             "overrides the config's 'liqrisk' section")
    parser.add_argument("--ceiling", type=int_range(1, 64, "oracle draws"), default=None, metavar="N",
                        help="simulator truth only: also score an oracle that knows every position's opening and "
                             "re-draws only what no price series shows (N draws, 1..64, e.g. 16): about the best any "
                             "estimate can score on this market")
    parser.add_argument("--oi-sources", nargs="+", default=None, metavar="EXCHANGE",
                        help="sum open interest over these exchanges' datadirs (beside --datadir, e.g. binance bybit "
                             "okx); default: the config's liqrisk.oi_sources, else the datadir's own exchange")
    parser.add_argument("--no-taker", action="store_true",
                        help="split new notional by candle shape: ignore the archive's taker ratio (download-oi's "
                             "oi_metrics file) and, with --csv, the file's taker buy volume; compare with and without")
    parser.add_argument("--json", default=None, metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--plot", default=None, metavar="FILE", help="draw estimate vs actual (PNG/SVG/PDF)")


def _fail(message: str) -> int:
    print(f"liqrisk validate: {message}", file=sys.stderr)
    return EXIT_USAGE


def _model_config(args) -> dict:
    from liqrisk.errors import ConfigError
    from liqrisk.tools.datadir import read_config

    section = (read_config(args.config).get("liqrisk") or {}) if args.config else {}
    if args.model_config:
        path = Path(args.model_config)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"--model-config {path}: cannot read it as JSON ({e}).") from e
        section = {**section, **(doc.get("config", doc) if isinstance(doc, dict) else {})}
    if not isinstance(section, dict):
        raise ConfigError("the 'liqrisk' model section must be a JSON object of model keys.")
    return section


def start(args: argparse.Namespace) -> int:
    import pandas as pd

    from liqrisk._util import timeframe_to_ns
    from liqrisk.core.features import required_startup_candles
    from liqrisk.errors import ConfigError, LiqriskError
    from liqrisk.tools.datadir import load_market, resolve_datadir, sources_summary
    from liqrisk.tools.validate.actuals import read_actuals
    from liqrisk.tools.validate.scoring import pick_window, validate_frames

    if args.csv:
        return _start_csv(args)
    if args.columns:
        return _fail("--columns goes with --csv.")
    if args.exchanges and not (args.liquidations and Path(args.liquidations).is_dir()):
        return _fail("--exchanges goes with a recorded --liquidations folder.")
    args.timeframe = args.timeframe or "5m"
    try:
        config = _model_config(args)
        window = pick_window(config, args.timeframe, args.window)
        config = {**config, "windows": [window]}
        datadir = resolve_datadir(args.config, args.datadir)
        span_ms = None
        if args.ceiling is not None and args.liquidations:
            raise ConfigError(f"--ceiling {args.ceiling}: the oracle needs the simulator's truth (no --liquidations).")
        recorded = None
        if args.liquidations and Path(args.liquidations).is_dir():
            from liqrisk.tools.record import read_recorded

            recorded = read_recorded(args.liquidations, args.pair, exchanges=args.exchanges, timeframe=args.timeframe)
            actual = recorded.actuals  # per candle, only candles the recording fully covers
        elif args.liquidations:
            actual = read_actuals(args.liquidations, pair=args.pair)
        else:
            truth = datadir / "liqrisk_truth" / "liquidations.parquet"
            if not truth.is_file():
                raise ConfigError(f"no --liquidations FILE given and no simulator truth at {truth}; pass the actual "
                                  "liquidations (date, long_usd, short_usd or date, side, usd).")
            actual = read_actuals(truth, pair=args.pair)
            meta = json.loads((truth.parent / "meta.json").read_text()) if (truth.parent / "meta.json").is_file() else {}
            if "start_ms" in meta and "end_ms" in meta:
                span_ms = (int(meta["start_ms"]), int(meta["end_ms"]))
        startup = required_startup_candles(config, args.timeframe) if args.timerange else 0
        oi_sources = args.oi_sources or config.get("oi_sources")
        taker = not args.no_taker and config.get("use_archive_taker", True) is not False
        market = load_market(args.pair, args.timeframe, config=args.config, datadir=datadir,
                             timerange=args.timerange, startup_candles=startup, oi_sources=oi_sources, taker=taker)
        if oi_sources:
            config["oi_sources"] = list(oi_sources)  # checked as a model key, recorded in the JSON
        start_ts = None
        if args.timerange:
            from freqtrade.configuration import TimeRange

            tr = TimeRange.parse_timerange(args.timerange)
            start_ts = pd.Timestamp(tr.startts, unit="s", tz="UTC") if tr.starttype else None
        result = validate_frames(market.ohlcv, actual, open_interest=market.open_interest,
                                 funding_rate=market.funding_rate, mark=market.mark, pair=args.pair,
                                 timeframe=args.timeframe, config=config, window=window, start=start_ts,
                                 span_ms=span_ms)
        if args.ceiling:
            from liqrisk.tools.sim.ceiling import oracle_liquidations

            minutes = timeframe_to_ns(args.timeframe) // 60_000_000_000
            oracle = oracle_liquidations(datadir, args.pair, timeframe_minutes=minutes, replicates=args.ceiling)
            result.add_oracle(oracle.frame, oracle.replicates)
    except LiqriskError as e:
        return _fail(str(e))
    print(result.table())
    if recorded is not None:
        print(f"actual liquidations: recorded, summed over {', '.join(recorded.exchanges)}; {len(recorded.gaps)} "
              "recording gap(s) skipped" + ("; Binance publishes at most one liquidation per symbol per second, so "
                                            "its totals undercount" if "binance" in recorded.exchanges else ""))
        result.meta["recorded_exchanges"] = list(recorded.exchanges)
    summary = sources_summary(market)
    if summary:
        print(summary)
    print(f"long/short split: the archive's taker ratio on {market.taker_candles} of {len(market.ohlcv)} candles"
          if market.taker_candles else "long/short split: candle shape (no archive taker ratio used)")
    result.meta.update(oi_sources=list(market.oi_sources), taker_candles=market.taker_candles)
    try:
        if args.json:
            Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
            print(f"figures written to {args.json}")
        if args.plot:
            _plot(result, Path(args.plot))
            print(f"plot written to {args.plot}")
    except OSError as e:
        return _fail(f"cannot write output: {e.strerror or e}")
    return 0


def _start_csv(args: argparse.Namespace) -> int:
    """``--csv FILE``: OHLCV, OI and actual liquidations from one per-candle file."""
    import pandas as pd

    from liqrisk.errors import LiqriskError
    from liqrisk.tools.validate.candle_csv import parse_column_map, read_candle_csv
    from liqrisk.tools.validate.scoring import pick_window, validate_frames

    if args.liquidations or args.ceiling is not None or args.datadir or args.oi_sources:
        return _fail("--csv holds the candles, OI and liquidations: drop --liquidations, --ceiling, --datadir and "
                     "--oi-sources.")
    try:
        config = _model_config(args)
        f = read_candle_csv(args.csv, columns=parse_column_map(args.columns))
        if args.no_taker:
            f.ohlcv = f.ohlcv.drop(columns="taker_buy_volume", errors="ignore")
        if args.timeframe and args.timeframe != f.timeframe:
            return _fail(f"--timeframe {args.timeframe}: the candles in {args.csv} are {f.timeframe} apart.")
        window = pick_window(config, f.timeframe, args.window)
        start_ts = None
        if args.timerange:
            from freqtrade.configuration import TimeRange

            tr = TimeRange.parse_timerange(args.timerange)
            start_ts = pd.Timestamp(tr.startts, unit="s", tz="UTC") if tr.starttype else None
        result = validate_frames(f.ohlcv, f.actual, open_interest=f.open_interest, pair=args.pair,
                                 timeframe=f.timeframe, config={**config, "windows": [window]}, window=window,
                                 start=start_ts)
    except LiqriskError as e:
        return _fail(str(e))
    print(result.table())
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result.to_dict(), indent=2))
        except OSError as e:
            return _fail(f"--json {args.json}: {e.strerror or e}")
        print(f"figures written to {args.json}")
    return 0


def _plot(result, out: Path) -> None:
    """Estimated vs actual over time (one panel per side) and a log-log scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fr = result.frame
    fig = plt.figure(figsize=(13, 7), constrained_layout=True)
    grid = fig.add_gridspec(2, 3)
    for row, side in enumerate(("long", "short")):
        ax = fig.add_subplot(grid[row, :2])
        ax.plot(fr["date"], fr[f"act_{side}_usd"] / 1e6, lw=0.8, color="black", label="actual")
        ax.plot(fr["date"], fr[f"est_{side}_usd"] / 1e6, lw=0.8, color="tab:red" if side == "long" else "tab:green",
                alpha=0.8, label="estimate")
        ax.set_yscale("symlog", linthresh=0.01)
        m = result.metrics[side]
        ax.set_title(f"{side}s liquidated per candle: Spearman {m['spearman']:.2f}, "
                     f"partial {m['partial_spearman']:.2f} given {m['best_baseline']}", fontsize=9)
        ax.set_ylabel("M USD")
        ax.legend(loc="upper left", fontsize=8)
        sc = fig.add_subplot(grid[row, 2])
        sc.scatter(fr[f"est_{side}_usd"] + 1, fr[f"act_{side}_usd"] + 1, s=4, alpha=0.4)
        sc.set_xscale("log")
        sc.set_yscale("log")
        sc.set_xlabel("estimate + 1 (USD)")
        sc.set_ylabel("actual + 1 (USD)")
    fig.suptitle(f"liqrisk validate: {result.meta.get('pair')} {result.meta.get('timeframe')}, "
                 f"window {result.meta.get('window')}", fontsize=10)
    try:
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
