"""``liqrisk heatmap``: draw the liquidation heatmap of one pair from a freqtrade datadir."""

from __future__ import annotations

import argparse

from liqrisk.cli._bounds import int_range
from liqrisk.cli._drawing import add_output_arguments, add_source_arguments, run_drawing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
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
    parser.add_argument("--bins", type=int_range(10, 4000, "price bins; more than the picture's pixels add "
                                                  "nothing"), default=400,
                        help="price bins, 10..4000 (default: %(default)s)")
    parser.add_argument(
        "--events",
        default=None,
        metavar="FILE|DIR",
        help="liquidation events to overlay: a parquet/feather/csv/json file with date, side, price, usd, "
        "or a folder that liqrisk record wrote (its datadir)",
    )
    parser.add_argument("--exchanges", nargs="+", default=None, metavar="EXCHANGE",
                        help="with a recorded --events folder: the exchanges to overlay (default: all recorded)")
    parser.add_argument(
        "--truth",
        action="store_true",
        help="overlay the simulator's liquidations from <datadir>/liqrisk_truth when present",
    )
    add_output_arguments(parser, default="user_data/plot/heatmap.png", formats=".png, .svg, .pdf, or .html for an interactive figure")


def start(args: argparse.Namespace) -> int:
    from liqrisk.tools.plot.heatmap import draw_heatmap

    return run_drawing(
        "heatmap", "heatmap", args, draw_heatmap, windows=args.window, timerange=args.timerange,
        side=args.side, view=args.view, events=args.events, exchanges=args.exchanges, truth=args.truth,
        price_bins=args.bins,
    )
