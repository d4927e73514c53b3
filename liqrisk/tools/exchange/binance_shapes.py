"""Binance USD-M futures protocol facts, as data: intervals, limits, error bodies, symbol filters.

Everything the server answers that is a Binance convention (rather than market data) lives here,
so a quirk is a table entry and not a branch in a handler. Times are epoch milliseconds (UTC);
prices and quantities go over the wire as decimal strings, as Binance sends them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: Kline intervals Binance accepts, in milliseconds. "1M" (calendar month) has no fixed length:
#: it is a valid interval but only served from a file of that interval, never aggregated.
INTERVAL_MS: dict[str, int | None] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": 7 * DAY_MS,
    "1M": None,
}

#: Candle open times are multiples of the interval counted from this origin (ms). Weekly candles
#: open on Monday 00:00 UTC; the epoch was a Thursday, hence the four-day shift.
INTERVAL_ORIGIN_MS: dict[str, int] = {"1w": 4 * DAY_MS}

#: Periods accepted by /futures/data/openInterestHist (the "period" parameter).
OI_PERIODS: tuple[str, ...] = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")

#: Binance keeps about one month of open interest statistics.
OI_HISTORY_DAYS = 30


@dataclass(frozen=True)
class Limit:
    """The ``limit`` query parameter of one endpoint: default, bounds, or an explicit allowed set."""

    default: int
    low: int = 1
    high: int = 1000
    allowed: tuple[int, ...] | None = None

    def accepts(self, value: int) -> bool:
        if self.allowed is not None:
            return value in self.allowed
        return self.low <= value <= self.high


#: Per-endpoint limits (USD-M docs). Depth only takes the listed values.
LIMITS: dict[str, Limit] = {
    "klines": Limit(default=500, high=1500),
    "fundingRate": Limit(default=100, high=1000),
    "openInterestHist": Limit(default=30, high=500),
    "depth": Limit(default=500, allowed=(5, 10, 20, 50, 100, 500, 1000)),
}


@dataclass(frozen=True)
class ErrorShape:
    """One Binance error: HTTP status, numeric code and message template (``{param}`` is filled)."""

    status: int
    code: int
    msg: str


#: The error bodies the server can send, keyed by a short name used in the code.
ERRORS: dict[str, ErrorShape] = {
    "unknown": ErrorShape(500, -1000, "An unknown error occured while processing the request."),
    "internal": ErrorShape(500, -1001, "Internal error; unable to process your request. Please try again."),
    "overloaded": ErrorShape(
        503, -1008, "Server is currently overloaded with other requests. Please try again in a few minutes."
    ),
    "too_many_requests": ErrorShape(
        429,
        -1003,
        "Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
    ),
    "illegal_chars": ErrorShape(
        400, -1100, "Illegal characters found in parameter '{param}'; legal range is '{legal}'."
    ),
    "mandatory": ErrorShape(400, -1102, "Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
    "bad_interval": ErrorShape(400, -1120, "Invalid interval."),
    "bad_symbol": ErrorShape(400, -1121, "Invalid symbol."),
    "bad_value": ErrorShape(400, -1130, "Data sent for parameter '{param}' is not valid."),
    "start_after_end": ErrorShape(400, -1023, "Start time is greater than end time."),
    "bad_start": ErrorShape(400, -1130, "parameter 'startTime' is invalid."),
    "bad_path": ErrorShape(404, -5000, "Path {param}, Method {legal} is invalid"),
    "api_key": ErrorShape(401, -2014, "API-key format invalid."),
}

#: Failure bodies for injected 5xx answers, by status. Statuses not listed get the -1001 body.
FAULT_5XX: dict[int, str] = {500: "internal", 502: "internal", 503: "overloaded", 504: "internal"}

#: How to write an integer parameter's legal range in -1100 messages.
INT_LEGAL = "^[0-9]{1,20}$"


class BinanceError(Exception):
    """An error to send as Binance's JSON body ``{"code": ..., "msg": ...}`` with its HTTP status."""

    def __init__(self, name: str, *, param: str = "", legal: str = "", headers: dict | None = None):
        shape = ERRORS[name]
        self.status = shape.status
        self.code = shape.code
        self.msg = shape.msg.format(param=param, legal=legal)
        self.headers = headers or {}
        super().__init__(f"{self.status} {self.code} {self.msg}")

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


# ---------------------------------------------------------------------------------------------
# Symbols and filters
# ---------------------------------------------------------------------------------------------

#: Real filter values of well-known USD-M perpetuals (tick size, step size, min notional in
#: the quote currency). Other symbols get filters from ``rule_filters`` scaled to their price.
KNOWN_FILTERS: dict[str, dict[str, str]] = {
    "BTCUSDT": {"tickSize": "0.10", "stepSize": "0.001", "minNotional": "100"},
    "ETHUSDT": {"tickSize": "0.01", "stepSize": "0.001", "minNotional": "20"},
    "SOLUSDT": {"tickSize": "0.0100", "stepSize": "1", "minNotional": "5"},
    "XRPUSDT": {"tickSize": "0.0001", "stepSize": "0.1", "minNotional": "5"},
    "BNBUSDT": {"tickSize": "0.010", "stepSize": "0.01", "minNotional": "5"},
    "DOGEUSDT": {"tickSize": "0.000010", "stepSize": "1", "minNotional": "5"},
}

#: Fields every USD-M perpetual carries in exchangeInfo that do not depend on the market's price.
PERPETUAL_STATIC: dict = {
    "contractType": "PERPETUAL",
    # Binance gives every perpetual this delivery date; freqtrade compares it with BTC's to
    # detect delistings, so it must be the same for all symbols.
    "deliveryDate": 4133404800000,
    "status": "TRADING",
    "maintMarginPercent": "2.5000",
    "requiredMarginPercent": "5.0000",
    "baseAssetPrecision": 8,
    "quotePrecision": 8,
    "underlyingType": "COIN",
    "underlyingSubType": [],
    "settlePlan": 0,
    "triggerProtect": "0.0500",
    "liquidationFee": "0.012500",
    "marketTakeBound": "0.05",
    "maxMoveOrderLimit": 10000,
    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                   "TRAILING_STOP_MARKET"],
    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
}

RATE_LIMITS: list[dict] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def decimals(step: str) -> int:
    """Number of decimals of a step written as a decimal string ("0.0100" -> 2, "1" -> 0)."""
    value = float(step)
    return max(0, -math.floor(math.log10(value) + 1e-9))


def rule_filters(price: float) -> dict[str, str]:
    """Plausible filters for an unknown symbol trading near ``price`` (quote currency per base unit).

    Five significant digits of price resolution; a quantity step worth roughly 2 to 20 quote units.
    """
    if not (price > 0 and math.isfinite(price)):
        price = 1.0
    mag = math.floor(math.log10(price))
    tick_exp = mag - 4
    step_exp = min(0, math.floor(math.log10(20.0 / price)))
    return {
        "tickSize": _pow10(tick_exp),
        "stepSize": _pow10(step_exp),
        "minNotional": "5",
    }


def _pow10(exp: int) -> str:
    return f"{10.0 ** exp:.{max(0, -exp)}f}"


def symbol_info(symbol: str, base: str, quote: str, settle: str, price: float, onboard_ms: int) -> dict:
    """One entry of exchangeInfo ``symbols`` for a USD-M perpetual, with PRICE_FILTER, LOT_SIZE,
    MARKET_LOT_SIZE, MIN_NOTIONAL and PERCENT_PRICE filters as Binance sends them."""
    f = KNOWN_FILTERS.get(symbol) or rule_filters(price)
    tick, step = f["tickSize"], f["stepSize"]
    max_price = _fmt_plain(_round_to(max(price, 1e-9) * 1000.0, float(tick)))
    step_f = float(step)
    # Binance caps order size at a few million quote units; keep that order of magnitude.
    max_qty = _fmt_plain(max(step_f, _round_to(5e6 / max(price, 1e-9), step_f)))
    entry = {
        "symbol": symbol,
        "pair": symbol,
        **PERPETUAL_STATIC,
        "onboardDate": int(onboard_ms),
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": settle,
        "pricePrecision": decimals(tick),
        "quantityPrecision": decimals(step),
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": max_price, "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": max_qty, "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": max_qty, "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": f["minNotional"]},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
    }
    return entry


def exchange_info(symbols: list[dict], server_ms: int) -> dict:
    """The /fapi/v1/exchangeInfo body around the given symbol entries."""
    settles = sorted({s["marginAsset"] for s in symbols})
    return {
        "timezone": "UTC",
        "serverTime": int(server_ms),
        "futuresType": "U_MARGINED",
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "assets": [{"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in settles],
        "symbols": symbols,
    }


# ---------------------------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------------------------


def _round_to(value: float, step: float) -> float:
    return round(round(value / step) * step, 12)


def _fmt_plain(value: float) -> str:
    return np.format_float_positional(float(value), unique=True, trim="-")


def num(value: float) -> str | None:
    """A float as Binance writes numbers: a plain decimal string, never exponent notation.

    The shortest string that round-trips, so a client parses back exactly the stored float.
    NaN (no data) becomes JSON null.
    """
    value = float(value)
    if not math.isfinite(value):
        return None
    return np.format_float_positional(value, unique=True, trim="-")


def fixed(value: float, step: str) -> str:
    """``value`` rounded to a multiple of ``step`` and written with the step's decimals."""
    step_f = float(step)
    d = decimals(step)
    return f"{round(value / step_f) * step_f:.{d}f}"
