"""``liqrisk download-oi``: open-interest history from Binance's public data archive into
freqtrade's ``open_interest`` files (``liqrisk.tools.download``)."""

from __future__ import annotations

import argparse
import sys

EXIT_USAGE = 2
EXIT_INCOMPLETE = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", default=None,
                        help="freqtrade config: its exchange (binance), datadir, dataformat_ohlcv and pair whitelist")
    parser.add_argument("--datadir", default=None,
                        help="freqtrade data folder (default: the config's, else user_data/data/binance)")
    parser.add_argument("--pairs", "-p", nargs="+", default=None, metavar="PAIR",
                        help="futures pairs, e.g. BTC/USDT:USDT ETH/USDT:USDT (default: the config's pair_whitelist)")
    parser.add_argument("--timerange", required=True,
                        help="freqtrade timerange, e.g. 20240101-20240301 (start included, end excluded); "
                             "an open end runs to yesterday, the archive's last day")
    parser.add_argument("--source", choices=["binance-archive", "bybit"], default="binance-archive",
                        help="where the history comes from: Binance's public data archive, or Bybit's v5 API "
                             "(open interest back to listing, into <datadir>/bybit/futures) (default: %(default)s)")
    parser.add_argument("--archive-url", default=None, metavar="URL",
                        help="archive base URL, e.g. a mirror or the local exchange (default: Binance's public data host); "
                             "with --source bybit the API host (default: the config's ccxt_config urls.api.public, "
                             "else https://api.bybit.com)")
    parser.add_argument("--timeframes", "-t", nargs="+", default=["5m"], metavar="TF",
                        help="OI timeframes to write: 5m, and coarser ones the strategy reads, e.g. 5m 1h (default: 5m)")
    parser.add_argument("--workers", type=int, default=4, help="days downloaded at once (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=5,
                        help="retries of a request after 429/5xx/timeouts, with backoff (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request (default: %(default)s)")


def _fail(message: str) -> int:
    print(f"liqrisk download-oi: {message}", file=sys.stderr)
    return EXIT_USAGE


def _summary(report) -> str:
    from liqrisk.tools.download.fetch import CACHED, OK

    verified = report.status[OK] + report.status[CACHED]
    files = ", ".join(f"{name} +{report.added[name]:,} rows ({report.rows[name]:,} in file)" for name in report.added)
    gaps = len(report.problems)
    return (f"{report.pair}: {report.days} days, {verified} verified ({report.status[OK]} downloaded, "
            f"{report.status[CACHED]} from the cache), {gaps} gap{'s' if gaps != 1 else ''}; {files}")


def start(args: argparse.Namespace) -> int:
    from liqrisk.errors import ConfigError, LiqriskError
    from liqrisk.tools.datadir import read_config, resolve_datadir
    from liqrisk.tools.download import DownloadRequest, download_open_interest
    from liqrisk.tools.download.fetch import DEFAULT_ARCHIVE_URL, FAILED, FetchSettings

    if args.workers < 1 or args.retries < 0 or args.timeout <= 0:
        return _fail("--workers must be >= 1, --retries >= 0 and --timeout > 0")
    try:
        cfg = read_config(args.config) if args.config else {}
        venue = "bybit" if args.source == "bybit" else "binance"
        exchange = (cfg.get("exchange") or {}).get("name", venue)
        if exchange != venue:
            raise ConfigError(f"--source {args.source} holds {venue.capitalize()} data; the config's exchange is {exchange!r}.")
        pairs = args.pairs or (cfg.get("exchange") or {}).get("pair_whitelist") or []
        if not pairs:
            raise ConfigError("no pairs: give --pairs BTC/USDT:USDT ... or a config with exchange.pair_whitelist.")
        start_ms, stop_ms = _timerange_ms(args.timerange)
        if venue == "bybit":
            return _start_bybit(args, cfg, list(pairs), start_ms, stop_ms)
        req = DownloadRequest(
            pairs=list(pairs), start_ms=start_ms, stop_ms=stop_ms,
            datadir=resolve_datadir(args.config, args.datadir),
            data_format=cfg.get("dataformat_ohlcv", "feather"), timeframes=tuple(args.timeframes),
            archive_url=args.archive_url or DEFAULT_ARCHIVE_URL, workers=args.workers,
            settings=FetchSettings(timeout_s=args.timeout, retries=args.retries),
        )
        reports = download_open_interest(req, progress=True)
    except LiqriskError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        print("liqrisk download-oi: interrupted; the days verified so far are cached, run the same "
              "command again to resume.", file=sys.stderr)
        return 130
    for report in reports:
        print(_summary(report))
    print(f"open_interest files in {req.datadir / 'futures'}; statistics in {req.datadir / 'liqrisk_oi_metrics'}")
    if any(r.status[FAILED] for r in reports):
        print("some days could not be downloaded; run the same command again to fetch only those.", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def _start_bybit(args: argparse.Namespace, cfg: dict, pairs: list[str], start_ms: int, stop_ms: int) -> int:
    from pathlib import Path

    from liqrisk.tools.datadir import resolve_datadir
    from liqrisk.tools.download.bybit import DEFAULT_BYBIT_URL, BybitRequest, download_bybit_open_interest
    from liqrisk.tools.download.fetch import FetchSettings

    urls = ((cfg.get("exchange") or {}).get("ccxt_config") or {}).get("urls") or {}
    api = urls.get("api") if isinstance(urls.get("api"), dict) else {}
    if args.datadir:  # freqtrade's data folder: the files go to its bybit/ folder
        datadir = Path(args.datadir) if Path(args.datadir).name == "bybit" else Path(args.datadir) / "bybit"
    else:
        datadir = resolve_datadir(args.config, None) if args.config else Path("user_data/data/bybit")
    req = BybitRequest(pairs=pairs, start_ms=start_ms, stop_ms=stop_ms, datadir=datadir,
                       data_format=cfg.get("dataformat_ohlcv", "feather"), timeframes=tuple(args.timeframes),
                       base_url=args.archive_url or api.get("public") or DEFAULT_BYBIT_URL,
                       settings=FetchSettings(timeout_s=args.timeout, retries=args.retries))
    reports = download_bybit_open_interest(req, progress=True)
    for report in reports:
        print(report.summary())
    print(f"open_interest files in {req.datadir / 'futures'}")
    if any(r.error for r in reports):
        print("some pages could not be downloaded; run the same command again to complete.", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def _timerange_ms(text: str) -> tuple[int, int]:
    """freqtrade timerange -> (start, stop) epoch ms; an open end is now."""
    import time

    from freqtrade.configuration import TimeRange

    from liqrisk.errors import ConfigError

    try:
        tr = TimeRange.parse_timerange(text)
    except Exception as e:  # freqtrade raises OperationalException
        raise ConfigError(f"--timerange {text!r}: {e}") from e
    if not tr.starttype:
        raise ConfigError(f"--timerange {text!r} has no start; write e.g. 20240101-20240301 or 20240101-.")
    stop = tr.stopts if tr.stoptype else int(time.time())
    return tr.startts * 1000, stop * 1000
