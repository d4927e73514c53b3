"""``liqrisk exchange``: serve a freqtrade datadir over Binance USD-M's public REST protocol."""

from __future__ import annotations

import argparse
import errno
import json
import sys

from liqrisk.cli import _bounds as B

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datadir", default="user_data/data",
                        help="freqtrade data folder holding binance/futures/ (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default: %(default)s)")
    parser.add_argument("--port", type=B.port, default=8765, help="port, 0..65535, 0 for any free one (default: %(default)s)")
    parser.add_argument("--live", action="store_true",
                        help="serve the simulator's live market (candles generated up to now) instead of replay")
    parser.add_argument("--seed", type=B.seed, default=42,
                        help=f"random seed of --live, as simulate, 0..{B.SEED_MAX} (default: %(default)s)")
    parser.add_argument("--faults", default="",
                        help="failure rates per request, e.g. 429:0.05,500:0.02,timeout:0.01")
    parser.add_argument("--fault-seed", type=B.seed, default=0,
                        help=f"seed of the fault draws, 0..{B.SEED_MAX} (default: %(default)s)")
    parser.add_argument("--fault-delay", type=B.float_range(0, 600, "seconds", lo_open=True), default=15.0,
                        help="seconds a 'timeout' fault stalls, > 0 and <= 600; more than the client's timeout "
                             "(ccxt: 10 s) (default: %(default)s)")
    parser.add_argument("--faults-include-startup", action="store_true",
                        help="also fail /fapi/v1/time and exchangeInfo (exempt by default so clients can start)")
    parser.add_argument("--access-log", action="store_true", help="log every request")


def _fail(message: str) -> int:
    print(f"liqrisk exchange: {message}", file=sys.stderr)
    return EXIT_USAGE


def start(args: argparse.Namespace) -> int:
    from liqrisk.errors import LiqriskError
    from liqrisk.tools.exchange.faults import FaultPlan, parse_faults
    from liqrisk.tools.exchange.server import check_loopback, freqtrade_exchange_config, run
    from liqrisk.tools.exchange.source import open_source

    flag = ""  # which flag a library error is about, for the message
    try:
        check_loopback(args.host)
        flag = "--faults: "
        rates = parse_faults(args.faults)
        flag = "--live: " if args.live else ""
        source = open_source(args.datadir, live=args.live, seed=args.seed)
    except (LiqriskError, ValueError) as e:
        return _fail(f"{flag}{e}")
    plan = FaultPlan(rates, seed=args.fault_seed, delay_s=args.fault_delay,
                     include_startup=args.faults_include_startup) if rates else None

    def ready(url: str) -> None:
        mode = "live" if args.live else "replay"
        print(f"liqrisk exchange ({mode}, {len(source.pairs)} pairs) listening on {url}", flush=True)
        print("freqtrade config \"exchange\" section for this server:")
        print(json.dumps(freqtrade_exchange_config(url), indent=2), flush=True)
        print("Ctrl-C to stop.", flush=True)

    try:
        run(source, host=args.host, port=args.port, faults=plan, on_ready=ready, access_log=args.access_log)
    except ValueError as e:
        return _fail(str(e))
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            return _fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        raise
    return 0
