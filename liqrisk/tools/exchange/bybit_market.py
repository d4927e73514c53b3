"""Bybit v5 public market endpoints over the same market as the Binance endpoints.

Handlers are plain synchronous functions ``(Exchange, BybitQuery) -> result dict``; the aiohttp
layer (``bybit_http.py``) wraps the result in Bybit's envelope and turns ``BybitError`` into
Bybit's failure envelope. Only linear USDT perpetuals exist ("linear" category); "spot",
"inverse" and "option" answer empty lists, so a client that loads every category still starts.

Windows, as Bybit selects rows (times are epoch ms, UTC, a candle's time is its open):

* ``kline`` / ``mark-price-kline``: ``start`` alone gives the ``limit`` candles from the one
  holding ``start`` on; with ``end`` (or neither) the latest ``limit`` candles up to ``end``
  (or now). Lists are newest first.
* ``funding/history``: ``startTime`` needs ``endTime``; the latest ``limit`` rates in
  ``[startTime, endTime]``, newest first.
* ``open-interest``: the latest ``limit`` snapshots in ``[startTime, endTime]`` (both optional),
  newest first, and a ``nextPageCursor`` while older rows remain in the window: a client walks
  back to the listing by repeating the request with ``cursor``. No 30-day cap, unlike Binance.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping

import numpy as np

from liqrisk.tools.exchange import bybit_shapes as ys
from liqrisk.tools.exchange.binance_shapes import num
from liqrisk.tools.exchange.bybit_shapes import BybitError
from liqrisk.tools.exchange.series import Series
from liqrisk.tools.exchange.state import Exchange, market_id


class BybitQuery:
    """Bybit-style parsing of one request's query string (first value of each name)."""

    def __init__(self, params: Mapping[str, str]):
        self.params = params

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise BybitError("params", param=f"params error: {name} is required")
            return None
        return value

    def integer(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise BybitError("bad_time", param=name)
        return int(value)

    def limit(self, endpoint: str) -> int:
        rule = ys.LIMITS[endpoint]
        value = self.text("limit")
        if value is None:
            return rule.default
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= rule.high:
            raise BybitError("bad_limit")
        return int(value)

    def category(self) -> str:
        value = self.text("category", required=True)
        if value not in ys.CATEGORIES:
            raise BybitError("bad_category")
        return value

    def pair(self, ex: Exchange, *, required: bool = True) -> str | None:
        """The market of ``symbol`` in category "linear" (the only one with markets)."""
        category = self.category()
        sym = self.text("symbol", required=required)
        if sym is None:
            return None
        pair = ex.by_id.get(sym)
        if pair is None or category != "linear":
            raise BybitError("bad_symbol")
        return pair


def _latest(t: np.ndarray, lo_t: int | None, hi_t: int, limit: int) -> tuple[slice, int]:
    """(the latest ``limit`` rows with time in [lo_t, hi_t], index of the window's first row)."""
    lo = 0 if lo_t is None else int(np.searchsorted(t, lo_t, side="left"))
    hi = int(np.searchsorted(t, hi_t, side="right"))
    hi = max(hi, lo)
    return slice(max(lo, hi - limit), hi), lo


# -- general -----------------------------------------------------------------------------------


def server_time(ex: Exchange, q: BybitQuery) -> dict:
    now = ex.now()
    return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}


def _instrument(ex: Exchange, pair: str) -> dict:
    info = ex.symbols[pair]
    f = {flt["filterType"]: flt for flt in info["filters"]}
    funding_min = ex.funding_interval_ms(ex.view.funding(pair)) // 60_000
    return ys.instrument(info["symbol"], info["baseAsset"], info["quoteAsset"], f["PRICE_FILTER"]["tickSize"],
                         f["LOT_SIZE"]["stepSize"], info["onboardDate"], funding_min, f["LOT_SIZE"]["maxQty"],
                         f["MIN_NOTIONAL"]["notional"])


def instruments_info(ex: Exchange, q: BybitQuery) -> dict:
    category = q.category()
    q.limit("instruments")
    pairs = list(ex.symbols)
    sym = q.text("symbol")
    if sym is not None:
        pairs = [p for p in pairs if market_id(p) == sym]
    if category != "linear" or q.text("status") not in (None, "Trading"):
        pairs = []  # no spot, inverse or option markets; nothing pre-launch or delisted
    return {"category": category, "list": [_instrument(ex, p) for p in pairs], "nextPageCursor": ""}


def risk_limit(ex: Exchange, q: BybitQuery) -> dict:
    category = q.category()
    pair = q.pair(ex, required=False)
    pairs = [pair] if pair else (list(ex.symbols) if category == "linear" else [])
    return {"category": category, "list": [t for p in pairs for t in ys.risk_limits(market_id(p))],
            "nextPageCursor": ""}


# -- candles -----------------------------------------------------------------------------------


def _kline(ex: Exchange, q: BybitQuery, kind: str) -> dict:
    pair = q.pair(ex)
    interval = q.text("interval", required=True)
    if interval not in ys.KLINE_INTERVALS:
        raise BybitError("bad_interval")
    tf = ys.KLINE_INTERVALS[interval]
    limit = q.limit("kline")
    start, end = q.integer("start"), q.integer("end")
    if start is not None and end is not None and start > end:
        raise BybitError("bad_time", param="start")
    rows: list[list] = []
    s = ex.view.candles(pair, kind, tf)
    if s is not None and len(s):
        length = ys.interval_ms(tf) or (int(np.median(np.diff(s.t))) if len(s) > 1 else 30 * 86_400_000)
        now = ex.now()
        hi_t = now if end is None else min(end, now)
        lo_t = None if start is None else start - length + 1  # the candle holding `start` counts
        sl, lo = _latest(s.t, lo_t, hi_t, limit)
        if start is not None and end is None:
            sl = slice(lo, min(lo + limit, max(sl.stop, lo)))
        rows = _kline_rows(s, sl, mark=(kind == "mark"))
    return {"symbol": market_id(pair), "category": "linear", "list": rows[::-1]}


def _kline_rows(s: Series, sl: slice, mark: bool) -> list[list]:
    c = s.cols
    rows = []
    for i in range(sl.start, sl.stop):
        row = [str(int(s.t[i]))] + [num(c[k][i]) for k in ("open", "high", "low", "close")]
        if not mark:
            vol = float(c["volume"][i]) if np.isfinite(c["volume"][i]) else 0.0
            turnover = vol * (float(c["open"][i]) + float(c["close"][i])) / 2.0
            row += [num(vol), num(round(turnover, 8))]
        rows.append(row)
    return rows


def kline(ex: Exchange, q: BybitQuery) -> dict:
    return _kline(ex, q, "futures")


def mark_price_kline(ex: Exchange, q: BybitQuery) -> dict:
    return _kline(ex, q, "mark")


def index_price_kline(ex: Exchange, q: BybitQuery) -> dict:
    """Index candles: the data has no index series; the mark price stands in for it."""
    return _kline(ex, q, "mark")


# -- funding -----------------------------------------------------------------------------------


def funding_history(ex: Exchange, q: BybitQuery) -> dict:
    pair = q.pair(ex)
    limit = q.limit("funding")
    start, end = q.integer("startTime"), q.integer("endTime")
    if start is not None and end is None:
        raise BybitError("start_only")
    if start is not None and end is not None and start > end:
        raise BybitError("bad_time", param="startTime")
    s = ex.view.funding(pair)
    out: list[dict] = []
    if s is not None:
        now = ex.now()
        sl, _ = _latest(s.t, start, now if end is None else min(end, now), limit)
        sym = market_id(pair)
        out = [{"symbol": sym, "fundingRate": num(r), "fundingRateTimestamp": str(int(t))}
               for t, r in zip(s.t[sl], s.cols["funding_rate"][sl], strict=True) if np.isfinite(r)]
    return {"category": "linear", "list": out[::-1]}


# -- open interest -----------------------------------------------------------------------------


def _cursor(end_ms: int) -> str:
    return base64.urlsafe_b64encode(f"endTime={end_ms}".encode()).decode().rstrip("=")


def _from_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        key, _, value = text.partition("=")
        if key != "endTime" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except ValueError:
        raise BybitError("bad_cursor") from None


def open_interest(ex: Exchange, q: BybitQuery) -> dict:
    pair = q.pair(ex)
    interval = q.text("intervalTime", required=True)
    if interval not in ys.OI_INTERVALS:
        raise BybitError("bad_interval_time")
    limit = q.limit("open_interest")
    start, end = q.integer("startTime"), q.integer("endTime")
    if start is not None and end is not None and start > end:
        raise BybitError("bad_time", param="startTime")
    hi_t = ex.now() if end is None else min(end, ex.now())
    cursor = q.text("cursor")
    if cursor is not None:
        hi_t = min(hi_t, _from_cursor(cursor))
    s = ex.view.open_interest(pair, ys.OI_INTERVALS[interval])
    rows: list[dict] = []
    next_cursor = ""
    if s is not None:
        sl, lo = _latest(s.t, start, hi_t, limit)
        amount = s.cols["open_interest_amount"]
        rows = [{"openInterest": num(amount[i]), "timestamp": str(int(s.t[i]))}
                for i in range(sl.start, sl.stop) if np.isfinite(amount[i])]
        if sl.start > lo:
            next_cursor = _cursor(int(s.t[sl.start]) - 1)
    return {"symbol": market_id(pair), "category": "linear", "list": rows[::-1], "nextPageCursor": next_cursor}


#: Path -> handler. Paths are the real ones under api.bybit.com.
ROUTES: dict[str, Callable[[Exchange, BybitQuery], dict]] = {
    "/v5/market/time": server_time,
    "/v5/market/instruments-info": instruments_info,
    "/v5/market/risk-limit": risk_limit,
    "/v5/market/kline": kline,
    "/v5/market/mark-price-kline": mark_price_kline,
    "/v5/market/index-price-kline": index_price_kline,
    "/v5/market/funding/history": funding_history,
    "/v5/market/open-interest": open_interest,
}

#: Paths a client needs to start; exempt from ``--faults`` unless startup faults are asked for.
STARTUP_PATHS: frozenset[str] = frozenset({"/v5/market/time", "/v5/market/instruments-info"})
