"""``liqrisk heatmap``: draw the liquidation heatmap of one pair from a freqtrade datadir."""

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
        "--window",
        nargs="+",
        default=["1d"],
        metavar="W",
        help="look-back window(s), e.g. 1d or 12h 1d 1w: one panel each (default: 1d)",
    )
    parser.add_argument(
        "--view",
        choices=["stack", "confluence"],
        default="stack",
        help="stack: one panel per window; confluence: one panel where clusters present in every "
        "window stand out (default: %(default)s)",
    )
    parser.add_argument(
        "--side",
        choices=["both", "long", "short", "split"],
        default="both",
        help="both: longs below and shorts above in one panel; long/short: one side; split: the "
        "two sides in side-by-side panels (default: %(default)s)",
    )
    parser.add_argument(
        "--timerange", default=None, help="freqtrade timerange, e.g. 20250101-20250201 (default: all data)"
    )
    parser.add_argument("--bins", type=int, default=400, help="price bins (default: %(default)s)")
    parser.add_argument(
        "--events",
        default=None,
        metavar="FILE",
        help="liquidation events to overlay (parquet/feather/csv/json with date, side, price, usd)",
    )
    parser.add_argument(
        "--truth",
        action="store_true",
        help="overlay the simulator's liquidations from <datadir>/liqrisk_truth when present",
    )
    parser.add_argument(
        "--out",
        "-o",
        default="user_data/plot/heatmap.png",
        help="output file: .png, .svg, .pdf, or .html for an interactive figure (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def start(args: argparse.Namespace) -> int:
    from liqrisk.errors import LiqriskError
    from liqrisk.plot.heatmap import draw_heatmap
    from liqrisk.plot.progress import rich_progress

    try:
        with rich_progress(disable=args.no_progress) as progress:
            out = draw_heatmap(
                args.out,
                pair=args.pair,
                timeframe=args.timeframe,
                windows=args.window,
                config=args.config,
                datadir=args.datadir,
                timerange=args.timerange,
                side=args.side,
                view=args.view,
                events=args.events,
                truth=args.truth,
                price_bins=args.bins,
                progress=progress,
            )
    except LiqriskError as e:
        print(f"liqrisk heatmap: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"heatmap written to {out}")
    return 0
