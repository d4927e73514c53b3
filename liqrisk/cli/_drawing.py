"""What the picture subcommands share: where the data comes from, and how a drawing runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from liqrisk.cli._bounds import pair_name

EXIT_USAGE = 2


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --datadir, --pair, --timeframe: one pair in a freqtrade datadir."""
    parser.add_argument(
        "--config", "-c", default=None, help="freqtrade config file (its datadir, optional 'liqrisk' section)"
    )
    parser.add_argument("--datadir", default=None, help="freqtrade data folder (overrides the config's)")
    parser.add_argument("--pair", "-p", required=True, type=pair_name, help="futures pair, e.g. BTC/USDT:USDT")
    parser.add_argument("--timeframe", "-t", default="5m", help="candle timeframe (default: %(default)s)")


def add_output_arguments(parser: argparse.ArgumentParser, *, default: str, formats: str) -> None:
    parser.add_argument("--out", "-o", default=default, help=f"output file: {formats} (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_drawing(command: str, what: str, args: argparse.Namespace, draw: Callable, **kwargs) -> int:
    """Call ``draw(args.out, ..., progress=...)`` with a progress bar; a LiqriskError
    becomes one line on stderr and exit code 2."""
    import matplotlib  # noqa: F401 - a missing [plot] extra fails here, before any data is loaded

    from liqrisk.errors import LiqriskError
    from liqrisk.tools.plot.progress import rich_progress

    try:
        with rich_progress(disable=args.no_progress) as progress:
            out = draw(args.out, pair=args.pair, timeframe=args.timeframe, config=args.config,
                       datadir=args.datadir, progress=progress, **kwargs)
    except LiqriskError as e:
        print(f"liqrisk {command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{what} written to {out}")
    return 0
