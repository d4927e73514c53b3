"""``liqrisk map``: draw the liquidation map (bars per price by leverage tier) at one moment."""

from __future__ import annotations

import argparse
import sys

from liqrisk.cli._bounds import int_range, positive_price
from liqrisk.cli._drawing import add_output_arguments, add_source_arguments, run_drawing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument(
        "--at",
        default=None,
        help="UTC time, e.g. 2025-01-15T12:00; the map holds at the close of the candle containing "
        "it (default: the last candle)",
    )
    parser.add_argument("--window", default="1d", help="look-back window (default: %(default)s)")
    parser.add_argument("--bins", type=int_range(10, 2000, "price bars; more than the picture's pixels add "
                                                  "nothing"), default=200,
                        help="price bins (bars), 10..2000 (default: %(default)s)")
    parser.add_argument(
        "--range",
        nargs=2,
        type=positive_price,
        default=None,
        metavar=("LOW", "HIGH"),
        help="price range in quote currency, 0 < LOW < HIGH, around the price (default: the price ±20%%)",
    )
    add_output_arguments(parser, default="user_data/plot/map.png", formats=".png, .svg, .pdf or .html")


def start(args: argparse.Namespace) -> int:
    from liqrisk.cli._drawing import EXIT_USAGE
    from liqrisk.tools.plot.liqmap import draw_liquidation_map

    if args.range and not args.range[0] < args.range[1]:
        print(f"liqrisk map: --range {args.range[0]:g} {args.range[1]:g}: LOW must be below HIGH "
              "(prices in quote currency).", file=sys.stderr)
        return EXIT_USAGE

    return run_drawing(
        "map", "liquidation map", args, draw_liquidation_map, at=args.at, window=args.window,
        price_bins=args.bins, price_range=tuple(args.range) if args.range else None,
    )
