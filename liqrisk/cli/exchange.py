"""``liqrisk exchange``: serve a freqtrade datadir over Binance USD-M's public REST protocol,
Bybit v5's market endpoints, the metrics archive and the liquidation WebSocket streams."""

from __future__ import annotations

import argparse
import errno
import json
import re
import sys
from datetime import date

from liqrisk.cli import _bounds as B

EXIT_USAGE = 2
#: Most days one --archive-* flag may name (a year of one symbol, or a month of twelve).
ARCHIVE_DAYS_MAX = 366
_ARCHIVE_DAY = re.compile(r"^([A-Z0-9]{2,20}):(\d{4}-\d{2}-\d{2})$")


def archive_day(text: str) -> tuple[str, str]:
    """``type=`` for ``SYMBOL:YYYY-MM-DD`` (``BTCUSDT:2025-01-05``), a day of 2000..2100."""
    m = _ARCHIVE_DAY.match(text)
    try:
        ok = m is not None and 2000 <= date.fromisoformat(m[2]).year <= 2100
    except ValueError:
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text!r} must be SYMBOL:YYYY-MM-DD, e.g. BTCUSDT:2025-01-05 (a day in "
                                         "2000..2100, the exchange's symbol in capitals)")
    return m[1], m[2]


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
                        help="failure rates per request, e.g. 429:0.05,500:0.02,timeout:0.01; and of the "
                             "liquidation WebSockets: ws_drop:R (chance per second of dropping every connection, "
                             "refused for 1 s), ws_delay:R (share of frames pushed 3 s late)")
    parser.add_argument("--fault-seed", type=B.seed, default=0,
                        help=f"seed of the fault draws, 0..{B.SEED_MAX} (default: %(default)s)")
    parser.add_argument("--fault-delay", type=B.float_range(0, 600, "seconds", lo_open=True), default=15.0,
                        help="seconds a 'timeout' fault stalls, > 0 and <= 600; more than the client's timeout "
                             "(ccxt: 10 s) (default: %(default)s)")
    parser.add_argument("--faults-include-startup", action="store_true",
                        help="also fail /fapi/v1/time and exchangeInfo (exempt by default so clients can start)")
    for kind, what in (("missing", "answer 404 (zip and .CHECKSUM)"),
                       ("corrupt", "serve a zip whose bytes no longer match its .CHECKSUM"),
                       ("broken", "serve a truncated zip whose .CHECKSUM matches it")):
        parser.add_argument(f"--archive-{kind}", nargs="+", type=archive_day, default=[], metavar="SYMBOL:DAY",
                            help=f"metrics archive days that {what}, e.g. BTCUSDT:2025-01-05 "
                                 f"(at most {ARCHIVE_DAYS_MAX})")
    parser.add_argument("--access-log", action="store_true", help="log every request")


def _fail(message: str) -> int:
    print(f"liqrisk exchange: {message}", file=sys.stderr)
    return EXIT_USAGE


def start(args: argparse.Namespace) -> int:
    from liqrisk.errors import LiqriskError
    from liqrisk.tools.exchange.archive import ArchiveFaults
    from liqrisk.tools.exchange.faults import FaultPlan, parse_faults
    from liqrisk.tools.exchange.liquidation_ws import ws_urls
    from liqrisk.tools.exchange.live_liquidations import split_ws_faults
    from liqrisk.tools.exchange.server import check_loopback, freqtrade_exchange_config, run
    from liqrisk.tools.exchange.source import open_source

    flag = ""  # which flag a library error is about, for the message
    try:
        check_loopback(args.host)
        for kind in ("missing", "corrupt", "broken"):
            if len(getattr(args, f"archive_{kind}")) > ARCHIVE_DAYS_MAX:
                raise ValueError(f"--archive-{kind}: at most {ARCHIVE_DAYS_MAX} days")
        flag = "--faults: "
        http_spec, ws_faults = split_ws_faults(args.faults, seed=args.fault_seed)
        rates = parse_faults(http_spec)
        flag = "--live: " if args.live else ""
        source = open_source(args.datadir, live=args.live, seed=args.seed)
    except (LiqriskError, ValueError) as e:
        return _fail(f"{flag}{e}")
    plan = FaultPlan(rates, seed=args.fault_seed, delay_s=args.fault_delay,
                     include_startup=args.faults_include_startup) if rates else None
    archive = ArchiveFaults(missing=set(args.archive_missing), corrupt=set(args.archive_corrupt),
                            broken=set(args.archive_broken))

    def ready(url: str) -> None:
        mode = "live" if args.live else "replay"
        print(f"liqrisk exchange ({mode}, {len(source.pairs)} pairs) listening on {url}", flush=True)
        print("freqtrade config \"exchange\" section for this server:")
        print(json.dumps(freqtrade_exchange_config(url), indent=2), flush=True)
        print(f"liquidation WebSocket streams: {ws_urls(url)}", flush=True)
        print("Ctrl-C to stop.", flush=True)

    try:
        run(source, host=args.host, port=args.port, faults=plan, on_ready=ready, access_log=args.access_log,
            archive_faults=archive, ws_faults=ws_faults)
    except ValueError as e:
        return _fail(str(e))
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            return _fail(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}")
        raise
    return 0
