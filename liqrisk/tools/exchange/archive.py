"""Binance's public data archive, served locally: daily ``metrics`` zips with ``.CHECKSUM`` files.

Paths are the archive's own (binance/binance-public-data):
``/data/futures/um/daily/metrics/<SYMBOL>/<SYMBOL>-metrics-<YYYY-MM-DD>.zip`` and the same
name plus ``.CHECKSUM`` (``sha256sum`` output: ``<hex digest>  <zip name>``). The zip holds one
CSV, ``<SYMBOL>-metrics-<YYYY-MM-DD>.csv``, with a header and one row per 5-minute snapshot:

``create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,
sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio``

``create_time`` is the snapshot time, UTC, ``YYYY-MM-DD HH:MM:SS``; a day's file holds the
snapshots in [day 00:00, next day 00:00). The values come from the source's 5m
``open_interest`` frame (row T = open interest at T, as ``openInterestHist``), written as the
shortest decimal that round-trips, so a reader gets back the stored floats exactly. The
simulator has no trader-account statistics: the three long/short account and position
ratios are left empty (the real archive has empty fields too); the taker buy/sell volume
ratio is the one the klines endpoint implies for the 5m candle that closes at ``create_time``
(0.55/0.45 on an up candle, 0.45/0.55 on a down one).

Days without a snapshot answer 404 like the archive (S3's XML body). ``ArchiveFaults`` makes
chosen days missing (404), corrupted (bytes changed after the ``.CHECKSUM`` was computed: a
checksum mismatch) or broken (a truncated zip whose ``.CHECKSUM`` matches it: a bad zip).
The 429/5xx/timeout faults of ``--faults`` apply to these paths as to every other.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from aiohttp import web

from liqrisk.tools.exchange.binance_shapes import DAY_MS, num
from liqrisk.tools.exchange.state import Exchange

#: Where the archive keeps the daily metrics files (the real host serves the same paths).
METRICS_PREFIX = "/data/futures/um/daily/metrics"
METRICS_COLUMNS = (
    "create_time", "symbol", "sum_open_interest", "sum_open_interest_value",
    "count_toptrader_long_short_ratio", "sum_toptrader_long_short_ratio", "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
FIVE_MIN_MS = 300_000

_NOT_FOUND_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    "<Message>The specified key does not exist.</Message><Key>{key}</Key></Error>"
)


@dataclass
class ArchiveFaults:
    """Days the local archive gets wrong on purpose, as ``(SYMBOL, "YYYY-MM-DD")`` pairs.

    ``missing``: zip and ``.CHECKSUM`` answer 404. ``corrupt``: the zip's bytes are changed after
    its checksum was taken (a download sees a sha256 mismatch). ``broken``: the zip is cut short
    and its ``.CHECKSUM`` is of the cut file (the checksum passes, the zip does not open).
    """

    missing: set[tuple[str, str]] = field(default_factory=set)
    corrupt: set[tuple[str, str]] = field(default_factory=set)
    broken: set[tuple[str, str]] = field(default_factory=set)


def metrics_name(symbol: str, day: date) -> str:
    """``BTCUSDT``, 2024-01-05 -> ``BTCUSDT-metrics-2024-01-05.zip``."""
    return f"{symbol}-metrics-{day.isoformat()}.zip"


def metrics_csv(ex: Exchange, pair: str, symbol: str, day: date) -> str | None:
    """The day's metrics CSV from the source's 5m open interest, or None when it has no snapshot."""
    s = ex.view.open_interest(pair, "5m")
    if s is None:
        return None
    start = (day - date(1970, 1, 1)).days * DAY_MS
    lo, hi = np.searchsorted(s.t, [start, start + DAY_MS], side="left")
    if hi <= lo:
        return None
    candles = ex.view.candles(pair, "futures", "5m")
    lines = [",".join(METRICS_COLUMNS)]
    for i in range(lo, hi):
        t = int(s.t[i])
        taker = ""
        if candles is not None:
            j = int(np.searchsorted(candles.t, t - FIVE_MIN_MS))
            if j < len(candles) and candles.t[j] == t - FIVE_MIN_MS:
                up = candles.cols["close"][j] >= candles.cols["open"][j]
                taker = num(0.55 / 0.45 if up else 0.45 / 0.55) or ""
        stamp = datetime.fromtimestamp(t / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        amount = num(s.cols["open_interest_amount"][i]) or ""
        value = num(s.cols["open_interest_value"][i]) or ""
        lines.append(f"{stamp},{symbol},{amount},{value},,,,{taker}")
    return "\n".join(lines) + "\n"


def zip_bytes(csv_name: str, text: str, day: date) -> bytes:
    """One-member deflated zip, byte-identical for the same input (fixed member time)."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo(csv_name, date_time=(day.year, day.month, day.day, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(info, text)
    return buf.getvalue()


def checksum_text(data: bytes, name: str) -> str:
    """``sha256sum`` output for ``data`` stored as ``name``."""
    return f"{hashlib.sha256(data).hexdigest()}  {name}\n"


class MetricsArchive:
    """Builds (and keeps) the zip and checksum of each requested day."""

    def __init__(self, exchange: Exchange, faults: ArchiveFaults | None = None):
        self.exchange = exchange
        self.faults = faults or ArchiveFaults()
        self._cache: dict[tuple[str, str], tuple[bytes, str] | None] = {}
        self._lock = threading.Lock()

    def files(self, symbol: str, day_text: str) -> tuple[bytes, str] | None:
        """(zip bytes, .CHECKSUM text) of a day, or None when the archive has no such file."""
        key = (symbol, day_text)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        out = self._build(symbol, day_text)
        with self._lock:
            self._cache[key] = out
        return out

    def _build(self, symbol: str, day_text: str) -> tuple[bytes, str] | None:
        pair = self.exchange.by_id.get(symbol)
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            return None
        if pair is None or (symbol, day_text) in self.faults.missing:
            return None
        text = metrics_csv(self.exchange, pair, symbol, day)
        if text is None:
            return None
        name = metrics_name(symbol, day)
        data = zip_bytes(name[:-4] + ".csv", text, day)
        if (symbol, day_text) in self.faults.broken:
            data = data[: len(data) // 2]
        checksum = checksum_text(data, name)
        if (symbol, day_text) in self.faults.corrupt:
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
        return data, checksum


ARCHIVE_KEY = web.AppKey("metrics_archive", MetricsArchive)


def _not_found(key: str) -> web.Response:
    return web.Response(status=404, text=_NOT_FOUND_XML.format(key=key.lstrip("/")),
                        content_type="application/xml")


async def metrics_file(request: web.Request) -> web.Response:
    """GET ``.../metrics/<SYMBOL>/<SYMBOL>-metrics-<day>.zip[.CHECKSUM]``."""
    symbol, filename = request.match_info["symbol"], request.match_info["filename"]
    prefix = f"{symbol}-metrics-"
    is_checksum = filename.endswith(".zip.CHECKSUM")
    stem = filename.removesuffix(".CHECKSUM").removesuffix(".zip")
    if not filename.startswith(prefix) or not (is_checksum or filename.endswith(".zip")):
        return _not_found(request.path)
    archive = request.app[ARCHIVE_KEY]
    archive.exchange.refresh()
    files = archive.files(symbol, stem[len(prefix):])
    if files is None:
        return _not_found(request.path)
    data, checksum = files
    if is_checksum:
        return web.Response(body=checksum.encode(), content_type="application/octet-stream")
    return web.Response(body=data, content_type="application/zip")


def add_archive_routes(app: web.Application, exchange: Exchange, faults: ArchiveFaults | None = None) -> None:
    """Serve the metrics archive of ``exchange``'s market at the archive's paths on ``app``."""
    app[ARCHIVE_KEY] = MetricsArchive(exchange, faults)
    app.router.add_get(METRICS_PREFIX + "/{symbol}/{filename}", metrics_file, allow_head=False)

