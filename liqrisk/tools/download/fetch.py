"""One day's metrics file from Binance's public data archive: fetch, verify, cache.

The archive (binance/binance-public-data) keeps USD-M daily metrics at
``<base>/data/futures/um/daily/metrics/<SYMBOL>/<SYMBOL>-metrics-<YYYY-MM-DD>.zip``, each with
a ``.CHECKSUM`` beside it: ``sha256sum`` output, ``<hex digest>  <zip name>``.

A verified day is kept under ``<cache>/data/futures/um/daily/metrics/<SYMBOL>/`` (the archive's
own layout): the zip, then its ``.CHECKSUM`` once the zip matches it, each written to a
temporary name and renamed, so a killed run leaves either a verified pair or nothing usable.
A later run trusts a cached pair whose zip still matches its checksum and does not ask the
archive again. (The archive has replaced files after the fact; delete the cache folder to
fetch every day afresh.)

HTTP: 404 means "the archive has no such day". 429/418 (with ``Retry-After``), 5xx, timeouts
and connection errors are retried with exponential backoff; when the retries run out the day
is reported as failed, never raised.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

#: The archive's public host; ``--archive-url`` replaces it (a mirror, the local exchange).
DEFAULT_ARCHIVE_URL = "https://data.binance.vision"
METRICS_PATH = "data/futures/um/daily/metrics"
#: Statuses worth another try: rate limits (Binance's 418 ban included) and server errors.
RETRY_STATUSES = frozenset({408, 418, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0
USER_AGENT = "liqrisk-download-oi"

# Outcomes of one day.
OK = "ok"  # downloaded and verified now
CACHED = "cached"  # verified copy already in the cache
MISSING = "missing"  # 404: the archive has no file for the day
MISMATCH = "checksum mismatch"  # the zip's sha256 differs from its .CHECKSUM (twice)
BAD_ZIP = "corrupt zip"  # the checksum matches but the zip or its CSV cannot be read
FAILED = "download failed"  # retries exhausted (network, 5xx, 429, timeouts)


class ArchiveUnavailable(Exception):
    """Retries ran out for one URL; the message says what the last attempt saw. ``answered``:
    the last attempt got an HTTP status (a server is there), not a connection error."""

    def __init__(self, message: str, answered: bool):
        super().__init__(message)
        self.answered = answered


@dataclass(frozen=True)
class FetchSettings:
    """``timeout_s``: per request (seconds); ``retries``: further attempts after the first;
    ``backoff_s``: the first wait, doubled each retry up to ``MAX_BACKOFF_S``."""

    timeout_s: float = 30.0
    retries: int = 5
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class DayResult:
    """``status`` is one of the outcomes above; ``path`` the verified zip (OK/CACHED only);
    ``answered``: for FAILED, whether the server answered at all (an HTTP status)."""

    symbol: str
    day: date
    status: str
    path: Path | None = None
    detail: str = ""
    answered: bool = True


def metrics_file_name(symbol: str, day: date) -> str:
    return f"{symbol}-metrics-{day.isoformat()}.zip"


def metrics_url(base_url: str, symbol: str, day: date) -> str:
    """``https://data.binance.vision``, BTCUSDT, 2024-01-05 ->
    ``https://data.binance.vision/data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-05.zip``."""
    return f"{base_url.rstrip('/')}/{METRICS_PATH}/{symbol}/{metrics_file_name(symbol, day)}"


def get(url: str, settings: FetchSettings) -> bytes | None:
    """The body of ``url``, None on 404. Raises ArchiveUnavailable when retries run out."""
    last, answered = "", False
    for attempt in range(settings.retries + 1):
        wait = min(MAX_BACKOFF_S, settings.backoff_s * 2**attempt)
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=settings.timeout_s) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            if e.code not in RETRY_STATUSES:
                raise ArchiveUnavailable(f"HTTP {e.code} {e.reason}", answered=True) from None
            last, answered = f"HTTP {e.code}", True
            retry_after = (e.headers or {}).get("Retry-After")
            if retry_after and retry_after.isdigit():
                wait = max(wait, min(MAX_BACKOFF_S, float(retry_after)))
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as e:
            reason = getattr(e, "reason", e)
            last = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
            answered = False
        if attempt < settings.retries:
            settings.sleep(wait)
    tries = settings.retries + 1
    raise ArchiveUnavailable(f"{last} after {tries} attempt{'s' if tries > 1 else ''}", answered)


def digest_in(checksum_text: str) -> str | None:
    """The hex sha256 at the start of a ``.CHECKSUM`` file, or None when there is none."""
    token = checksum_text.strip().split(maxsplit=1)[0] if checksum_text.strip() else ""
    token = token.lower()
    return token if len(token) == 64 and all(c in "0123456789abcdef" for c in token) else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_zip(data: bytes) -> str:
    """"" when ``data`` is a readable zip with one CSV member, else what is wrong."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
            if not names:
                return "no CSV inside"
            bad = zf.testzip()
            return f"member {bad} is damaged" if bad else ""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as e:
        return str(e) or type(e).__name__


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cached_day(cache_dir: Path, symbol: str, day: date) -> Path | None:
    """The cached zip of a day when it is there and still matches its cached checksum."""
    folder = cache_dir / METRICS_PATH / symbol
    zpath = folder / metrics_file_name(symbol, day)
    cpath = zpath.with_name(zpath.name + ".CHECKSUM")
    if not (zpath.is_file() and cpath.is_file()):
        return None
    expected = digest_in(cpath.read_text(errors="replace"))
    return zpath if expected is not None and sha256(zpath.read_bytes()) == expected else None


def fetch_day(base_url: str, cache_dir: Path, symbol: str, day: date, settings: FetchSettings) -> DayResult:
    """Bring one day's verified zip into the cache (or find it there). Never raises for
    archive trouble: the result's status says what happened."""
    hit = cached_day(cache_dir, symbol, day)
    if hit is not None:
        return DayResult(symbol, day, CACHED, hit)
    url = metrics_url(base_url, symbol, day)
    zpath = cache_dir / METRICS_PATH / symbol / metrics_file_name(symbol, day)
    try:
        checksum = get(url + ".CHECKSUM", settings)
        if checksum is None:
            return DayResult(symbol, day, MISSING, detail="no .CHECKSUM (404)")
        expected = digest_in(checksum.decode(errors="replace"))
        if expected is None:
            return DayResult(symbol, day, MISMATCH, detail=".CHECKSUM holds no sha256 digest")
        for attempt in range(2):  # one fresh download in case the transfer was damaged
            data = get(url, settings)
            if data is None:
                return DayResult(symbol, day, MISSING, detail="no zip (404)")
            if sha256(data) == expected:
                break
            if attempt == 1:
                return DayResult(symbol, day, MISMATCH,
                                 detail=f"sha256 {sha256(data)[:12]}… != .CHECKSUM {expected[:12]}…")
    except ArchiveUnavailable as e:
        return DayResult(symbol, day, FAILED, detail=str(e), answered=e.answered)
    problem = check_zip(data)
    if problem:
        return DayResult(symbol, day, BAD_ZIP, detail=problem)
    zpath.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(zpath, data)
    _write_atomic(zpath.with_name(zpath.name + ".CHECKSUM"), checksum)  # last: marks the pair complete
    return DayResult(symbol, day, OK, zpath)
