"""``liqrisk simulate``: generate a leveraged market and write freqtrade data + ground truth."""

from __future__ import annotations

import argparse
import sys

from liqrisk.cli import _bounds as B

EXIT_USAGE = 2
DEFAULT_PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datadir", default="user_data/data",
                        help="freqtrade data folder; files go to <datadir>/<exchange>/futures (default: %(default)s)")
    parser.add_argument("--pairs", nargs="+", default=DEFAULT_PAIRS, metavar="PAIR", type=B.pair_name,
                        help="ccxt futures symbols BASE/QUOTE:SETTLE (default: %(default)s)")
    parser.add_argument("--days", type=B.days, default=90,
                        help=f"days of 1m candles to generate, 1..{B.DAYS_MAX} (default: %(default)s)")
    parser.add_argument("--seed", type=B.seed, default=42,
                        help=f"random seed, 0..{B.SEED_MAX}; same seed, same data (default: %(default)s)")
    parser.add_argument("--end", default=None,
                        help="UTC end of the data (exclusive), a whole hour, e.g. 2025-03-31 or 2025-03-31T08:00 "
                             "(default: 2025-03-31)")
    parser.add_argument("--exchange", default="binance", type=B.exchange_name,
                        help="exchange folder name, [a-z0-9_]+ (default: %(default)s)")
    parser.add_argument("--cohorts-per-minute", type=B.float_range(0, 1000, "mean cohorts opened per minute",
                                                                   lo_open=True), default=3.0, metavar="X",
                        help="market density: mean position cohorts opened per minute, > 0 and <= 1000. The same "
                             "open interest is split into more, smaller cohorts, so more candles see liquidations; "
                             "time, memory and positions.parquet grow about linearly (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fail(message: str) -> int:
    print(f"liqrisk simulate: {message}", file=sys.stderr)
    return EXIT_USAGE


def start(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from liqrisk.errors import LiqriskError
    from liqrisk.tools.sim.specs import check_cohorts_per_minute, parse_pair
    from liqrisk.tools.sim.writer import parse_end, simulate_datadir

    try:
        for pair in args.pairs:
            parse_pair(pair)
        parse_end(args.end)
        check_cohorts_per_minute(args.cohorts_per_minute, name="--cohorts-per-minute")
    except LiqriskError as e:
        return _fail(str(e))

    console = Console(stderr=True)
    total = args.days * 1440
    progress = Progress(
        TextColumn("{task.description:<16}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(), console=console, disable=args.no_progress, transient=False,
    )
    with progress:
        tasks = {pair: progress.add_task(pair, total=total) for pair in dict.fromkeys(args.pairs)}

        def on_progress(pair: str, done: int) -> None:
            progress.update(tasks[pair], completed=done)

        try:
            result = simulate_datadir(
                args.datadir, args.pairs, days=args.days, seed=args.seed, end=args.end,
                exchange=args.exchange, progress=on_progress, cohorts_per_minute=args.cohorts_per_minute,
            )
        except LiqriskError as e:
            return _fail(str(e))
        except OSError as e:
            return _fail(f"cannot write to {args.datadir}: {e.strerror or e}")

    print(f"Simulated {len(result.pairs)} pairs x {args.days} days (seed {result.seed}, "
          f"{result.cohorts_per_minute:g} cohorts/min) in {result.seconds:.1f} s.")
    print(f"freqtrade data:  {result.futures_dir}  (timerange {result.timerange}; "
          "candle types futures, mark 1m/5m/1h; funding_rate 1h; open_interest 5m/1h)")
    print(f"ground truth:    {result.truth_dir}  (liquidations, levels_1h, positions .parquet; meta.json)")
    print(f"liquidations:    {result.n_liquidations:,} events, {result.liquidated_usd / 1e6:,.0f} M USD")
    for pair, (first, last) in result.price_range.items():
        print(f"  {pair:<16} {first:>12,.4f} -> {last:>12,.4f}")
    print(f"Check: freqtrade list-data --datadir {result.exchange_dir} --trading-mode futures --show-timerange")
    return 0
