"""``liqrisk map``: draw the liquidation map (bars per price by leverage tier) at one moment."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", default=None, help="freqtrade config file (its datadir, optional 'liqrisk' section)"
    )
    parser.add_argument("--datadir", default=None, help="freqtrade data folder (overrides the config's)")
    parser.add_argument("--pair", "-p", required=True, help="futures pair, e.g. BTC/USDT:USDT")
    parser.add_argument("--timeframe", "-t", default="5m", help="candle timeframe (default: %(default)s)")
    parser.add_argument(
        "--at",
        default=None,
        help="UTC time, e.g. 2025-01-15T12:00; the map holds at the close of the candle containing "
        "it (default: the last candle)",
    )
    parser.add_argument("--window", default="1d", help="look-back window (default: %(default)s)")
    parser.add_argument("--bins", type=int, default=200, help="price bins (default: %(default)s)")
    parser.add_argument(
        "--range",
        nargs=2,
        type=float,
        default=None,
        metavar=("LOW", "HIGH"),
        help="price range in quote currency (default: the price ±20%%)",
    )
    parser.add_argument(
        "--out",
        "-o",
        default="user_data/plot/map.png",
        help="output file: .png, .svg, .pdf or .html (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def start(args: argparse.Namespace) -> int:
    from liqrisk.errors import LiqriskError
    from liqrisk.plot.liqmap import draw_liquidation_map
    from liqrisk.plot.progress import rich_progress

    try:
        with rich_progress(disable=args.no_progress) as progress:
            out = draw_liquidation_map(
                args.out,
                pair=args.pair,
                at=args.at,
                timeframe=args.timeframe,
                window=args.window,
                config=args.config,
                datadir=args.datadir,
                price_bins=args.bins,
                price_range=tuple(args.range) if args.range else None,
                progress=progress,
            )
    except LiqriskError as e:
        print(f"liqrisk map: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"liquidation map written to {out}")
    return 0
