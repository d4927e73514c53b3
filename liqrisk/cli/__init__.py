"""``liqrisk`` command line: one short ``start_<name>(args)`` per subcommand.

Each subcommand lives in its own module with two functions, ``add_arguments(parser)``
and ``start(args) -> int``. Modules import their heavy libraries inside ``start`` so
that ``liqrisk --help`` stays fast. No math lives here.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from liqrisk.cli._bounds import OneLineParser

# (subcommand, module, one-line help)
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("demo", "liqrisk.cli.demo", "offline main job: simulate a market, serve it locally, backtest the sample strategy with freqtrade"),
    ("simulate", "liqrisk.cli.simulate", "simulate a leveraged market and write freqtrade data files"),
    ("exchange", "liqrisk.cli.exchange", "serve a datadir over Binance USD-M's REST protocol on 127.0.0.1"),
    ("heatmap", "liqrisk.cli.heatmap", "draw a liquidation heatmap (PNG or interactive HTML) from a freqtrade datadir"),
    ("map", "liqrisk.cli.map", "draw the liquidation map (bars per price, by leverage tier) at one moment"),
    ("validate", "liqrisk.cli.validate", "measure how well estimated liquidations track actual ones"),
    ("calibrate", "liqrisk.cli.calibrate", "fit the model's free parameters on real liquidation data"),
    ("record", "liqrisk.cli.record", "record the exchanges' public liquidation streams into the datadir (Binance, Bybit)"),
    ("download-oi", "liqrisk.cli.download_oi", "download open-interest history (Binance's public data archive) into freqtrade's open_interest files"),
    ("warmup", "liqrisk.cli.warmup", "compile the numba kernels into their cache now (e.g. in a Docker image build)"),
]

EXIT_USAGE = 2
#: Optional libraries of the tools, and the extra that installs each.
OPTIONAL_EXTRAS = {"matplotlib": "plot", "plotly": "plot"}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="liqrisk", description="Liquidation-cluster risk tools for freqtrade.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in SUBCOMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue  # subcommand not built yet
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_start=module.start)
    return parser


def main(argv: list[str] | None = None) -> int:
    from liqrisk.errors import LiqriskError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code != EXIT_USAGE:
            raise  # --help and --version exit 0 as usual
        return EXIT_USAGE  # OneLineParser printed the one line
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not getattr(args, "_start", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args._start(args) or 0)
    except LiqriskError as e:  # each command catches its own; this is the backstop
        print(f"liqrisk {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in OPTIONAL_EXTRAS:
            raise
        print(f"liqrisk {args.command}: needs {top}, an optional dependency; install it with "
              f"pip install 'liqrisk[{OPTIONAL_EXTRAS[top]}]'.", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
