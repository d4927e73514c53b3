"""``liqrisk record``: record the exchanges' public liquidation streams into the datadir.

The recorder lives in ``liqrisk.tools.record``; this module reads flags and runs it.
"""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from liqrisk.tools.record.venues import VENUES

    parser.add_argument("--config", "-c", default=None,
                        help="freqtrade config file: its datadir, and its pair_whitelist when --pairs is not given")
    parser.add_argument("--datadir", default=None,
                        help="freqtrade data folder (overrides the config's); events go to "
                             "<datadir>/liqrisk_liquidations/<exchange>/<PAIR>/")
    parser.add_argument("--pairs", "-p", nargs="+", default=None, metavar="PAIR",
                        help="ccxt perpetual symbols, e.g. BTC/USDT:USDT (default: the config's pair_whitelist)")
    parser.add_argument("--exchanges", nargs="+", default=["binance", "bybit"], metavar="EXCHANGE",
                        choices=list(VENUES),
                        help="binance and okx (sampled: at most one liquidation per symbol per second, an "
                             "undercount) and/or bybit (every liquidation) (default: %(default)s)")
    parser.add_argument("--timeframes", "-t", nargs="+", default=["5m", "1h"], metavar="TF",
                        help="write <PAIR>-<tf>-liquidations.feather per-candle sums at these timeframes "
                             "(default: %(default)s)")
    parser.add_argument("--duration", default=None, metavar="DURATION",
                        help="stop after this long, e.g. 2h or 30m (default: until Ctrl-C)")
    parser.add_argument("--ws-url-override", nargs="+", default=[], metavar="EXCHANGE=URL",
                        help="use this WebSocket URL instead of the exchange's, e.g. "
                             "bybit=ws://127.0.0.1:8766/bybit/v5/public/linear or okx=ws://127.0.0.1:8766/okx/ws/v5 "
                             "(ccxt adds /public) (a local server; markets are then built from the pair names, with "
                             "no REST call; OKX contract sizes: BTC 0.01, ETH 0.1, others 1)")
    parser.add_argument("--flush-seconds", type=float, default=2.0, metavar="S",
                        help="seconds between flushes to disk; a crash loses at most this much (default: %(default)s)")
    parser.add_argument("--progress-seconds", type=float, default=30.0, metavar="S",
                        help="seconds between progress lines (default: %(default)s)")


def _fail(message: str) -> int:
    print(f"liqrisk record: {message}", file=sys.stderr)
    return EXIT_USAGE


def start(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from liqrisk._util import timeframe_to_ns
    from liqrisk.errors import ConfigError, LiqriskError
    from liqrisk.tools.datadir import read_config, resolve_datadir
    from liqrisk.tools.record.recorder import Recorder, RecordSettings
    from liqrisk.tools.record.venues import split_pair, venue

    try:
        cfg = read_config(args.config) if args.config else {}
        pairs = args.pairs or list((cfg.get("exchange") or {}).get("pair_whitelist") or [])
        if not pairs:
            raise ConfigError("no pairs: give --pairs BTC/USDT:USDT ... or a config with exchange.pair_whitelist.")
        for pair in pairs:
            split_pair(pair)
        for name in args.exchanges:
            venue(name)
        for tf in args.timeframes:
            timeframe_to_ns(tf, key="--timeframes")
        duration_s = timeframe_to_ns(args.duration, key="--duration") / 1e9 if args.duration else None
        ws_urls = {}
        for item in args.ws_url_override:
            name, sep, url = item.partition("=")
            if not sep or not url.startswith(("ws://", "wss://")):
                raise ConfigError(f"--ws-url-override {item!r}: write EXCHANGE=ws://HOST:PORT/PATH.")
            venue(name)
            ws_urls[name] = url
        if args.flush_seconds <= 0 or args.progress_seconds <= 0:
            raise ConfigError("--flush-seconds and --progress-seconds must be > 0.")
        datadir = resolve_datadir(args.config, args.datadir)
    except LiqriskError as e:
        return _fail(str(e))

    recorder = Recorder(RecordSettings(
        pairs=pairs, exchanges=list(dict.fromkeys(args.exchanges)), datadir=datadir, timeframes=args.timeframes,
        duration_s=duration_s, ws_urls=ws_urls, flush_s=args.flush_seconds, progress_s=args.progress_seconds))

    async def main() -> str:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, recorder.stop)
        return await recorder.run()

    print(f"liqrisk record: {', '.join(pairs)} from {', '.join(args.exchanges)} into {recorder.root}", file=sys.stderr)
    line = asyncio.run(main())
    print(f"liqrisk record: {line}", file=sys.stderr)
    return 0
