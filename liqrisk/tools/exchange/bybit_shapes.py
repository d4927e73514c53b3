"""Bybit v5 public market protocol facts, as data: intervals, limits, return codes, envelopes,
instrument entries and risk-limit tiers.

Every answer of Bybit's v5 API is one envelope, ``{"retCode", "retMsg", "result", "retExtInfo",
"time"}``. Errors in the request are ``retCode != 0`` with HTTP 200 (``10001`` for every bad
parameter, ``10006`` "Too many visits!" for the per-endpoint rate limit); HTTP 403 means the IP
went over 600 requests per 5 s (ccxt maps both to ``RateLimitExceeded``). Times are epoch
milliseconds (UTC), sent as strings inside ``result`` and as a number in ``time``; prices and
quantities are decimal strings. References: https://bybit-exchange.github.io/docs/v5/intro and
ccxt's ``bybit.py`` (which fields it reads).
"""

from __future__ import annotations

from dataclasses import dataclass

from liqrisk.tools.exchange.binance_shapes import DAY_MS, HOUR_MS, MINUTE_MS, num

#: The prefix of every v5 path; Binance's paths (``/fapi``, ``/api``, ``/futures``) never clash.
PREFIX = "/v5/"

#: Kline ``interval`` values -> the freqtrade timeframe they mean. "M" (calendar month) has no
#: fixed length and is only served from a file of that timeframe.
KLINE_INTERVALS: dict[str, str] = {
    "1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h",
    "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M",
}

#: Open-interest ``intervalTime`` values -> freqtrade timeframe.
OI_INTERVALS: dict[str, str] = {"5min": "5m", "15min": "15m", "30min": "30m", "1h": "1h", "4h": "4h", "1d": "1d"}


@dataclass(frozen=True)
class Limit:
    """The ``limit`` parameter of one endpoint: default and bounds (Bybit's v5 docs)."""

    default: int
    high: int


LIMITS: dict[str, Limit] = {
    "kline": Limit(default=200, high=1000),
    "funding": Limit(default=200, high=200),
    "open_interest": Limit(default=50, high=200),
    "instruments": Limit(default=500, high=1000),
}

#: Categories of the v5 market endpoints; only "linear" has markets here (USDT perpetuals).
CATEGORIES = ("spot", "linear", "inverse", "option")


@dataclass(frozen=True)
class RetShape:
    """One Bybit failure: HTTP status, ``retCode`` and ``retMsg`` template (``{param}`` filled)."""

    status: int
    code: int
    msg: str


#: The failures the server sends, by a short name used in the code.
ERRORS: dict[str, RetShape] = {
    "params": RetShape(200, 10001, "{param}"),
    "bad_symbol": RetShape(200, 10001, "Not supported symbols"),
    "bad_category": RetShape(200, 10001, "Illegal category"),
    "bad_interval": RetShape(200, 10001, "Invalid period!"),
    "bad_interval_time": RetShape(200, 10001, "Invalid intervalTime"),
    "bad_limit": RetShape(200, 10001, "The parameter limit is invalid"),
    "bad_time": RetShape(200, 10001, "params error: {param} is invalid"),
    "start_only": RetShape(200, 10001, "startTime and endTime must be passed together or not at all"),
    "bad_cursor": RetShape(200, 10001, "Invalid cursor"),
    "too_many_visits": RetShape(200, 10006, "Too many visits!"),
    "system": RetShape(500, 10016, "Internal system error."),
    "not_found": RetShape(404, 10017, "Route not found: {param}"),
}

#: Injected rate-limit answers: ``429`` is Bybit's per-endpoint limit (HTTP 200, retCode 10006
#: and the ``X-Bapi-Limit*`` headers); ``418`` (Binance's IP ban) becomes Bybit's IP limit,
#: HTTP 403 with a plain-text body, as its gateway sends it.
IP_LIMIT_BODY = "403 Forbidden: access too frequent. Please try again in a few minutes."
#: Injected 5xx answers: 500 is the API's JSON (10016); 502/503/504 come from the CDN in front of
#: Bybit as HTML pages, which ccxt can only judge by the status.
GATEWAY_HTML = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
ENDPOINT_LIMIT = 600  # X-Bapi-Limit of the market endpoints (requests per 5 s window)


class BybitError(Exception):
    """A failure to send as Bybit's envelope, with its HTTP status."""

    def __init__(self, name: str, *, param: str = ""):
        shape = ERRORS[name]
        self.status, self.code = shape.status, shape.code
        self.msg = shape.msg.format(param=param)
        super().__init__(f"{self.status} {self.code} {self.msg}")


def envelope(result: dict, now_ms: int, *, code: int = 0, msg: str = "OK") -> dict:
    """The v5 answer around ``result`` (``{}`` for failures, as Bybit sends)."""
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": int(now_ms)}


def interval_ms(timeframe: str) -> int | None:
    """Length of a freqtrade timeframe in ms; None for "1M"."""
    unit, n = timeframe[-1], int(timeframe[:-1])
    return {"m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}.get(unit, 0) * n or None


# ---------------------------------------------------------------------------------------------
# Instruments
# ---------------------------------------------------------------------------------------------


def instrument(symbol: str, base: str, quote: str, tick: str, step: str, launch_ms: int,
               funding_interval_min: int, max_qty: str, min_notional: str) -> dict:
    """One ``/v5/market/instruments-info?category=linear`` entry of a USDT perpetual. ccxt reads
    ``symbol, contractType, status, baseCoin, quoteCoin, settleCoin, launchTime, deliveryTime,
    leverageFilter, priceFilter, lotSizeFilter, fundingInterval`` (minutes)."""
    decimals = len(tick.split(".")[1]) if "." in tick else 0
    return {
        "symbol": symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": base,
        "quoteCoin": quote,
        "launchTime": str(int(launch_ms)),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(decimals),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": max_leverage(symbol), "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": num(float(tick) * 2_000_000) or tick, "tickSize": tick},
        "lotSizeFilter": {"maxOrderQty": max_qty, "minOrderQty": step, "qtyStep": step,
                          "postOnlyMaxOrderQty": max_qty, "maxMktOrderQty": max_qty,
                          "minNotionalValue": min_notional},
        "unifiedMarginTrade": True,
        "fundingInterval": int(funding_interval_min),
        "settleCoin": quote,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
        "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        "displayName": "",
    }


# ---------------------------------------------------------------------------------------------
# Risk limits (maintenance-margin tiers)
# ---------------------------------------------------------------------------------------------

#: Risk-limit ladders, as (first tier's riskLimitValue in USDT, step per tier, tiers, first
#: maintenance-margin rate, its step per tier, first maxLeverage). Bybit's published ladders have
#: this shape: the limit grows in equal steps, each tier adds the same maintenance margin and
#: lowers the leverage. The values here are round approximations for a simulated market, not
#: Bybit's table copied tier by tier; a real backtest should use what the real endpoint returns.
LADDERS: dict[str, tuple[float, float, int, float, float, float]] = {
    "BTCUSDT": (2_000_000, 2_000_000, 10, 0.005, 0.005, 100.0),
    "ETHUSDT": (1_000_000, 1_000_000, 10, 0.005, 0.005, 100.0),
    "default": (200_000, 200_000, 8, 0.01, 0.005, 50.0),
}


def max_leverage(symbol: str) -> str:
    return f"{LADDERS.get(symbol, LADDERS['default'])[5]:.2f}"


def risk_limits(symbol: str) -> list[dict]:
    """The ``/v5/market/risk-limit`` entries of ``symbol`` (``id`` 1 = the lowest tier). ccxt
    turns them into leverage tiers: ``maxNotional = riskLimitValue``, ``minNotional`` = the
    previous tier's value, ``maintenanceMarginRate = maintenanceMargin``."""
    first, step, tiers, mmr, mmr_step, lev = LADDERS.get(symbol, LADDERS["default"])
    out = []
    deduction = 0.0
    for i in range(tiers):
        rate = mmr + i * mmr_step
        if i:  # the deduction keeps the maintenance margin continuous at each tier boundary
            deduction += (first + (i - 1) * step) * mmr_step
        max_lev = max(1.0, 1.0 / (1.0 / lev + 2 * i * mmr_step))
        out.append({
            "id": i + 1,
            "symbol": symbol,
            "riskLimitValue": num(first + i * step),
            "maintenanceMargin": num(round(rate, 6)),
            "initialMargin": num(round(1.0 / max_lev, 6)),
            "isLowestRisk": 1 if i == 0 else 0,
            "maxLeverage": f"{max_lev:.2f}",
            "mmDeduction": num(round(deduction, 4)) if i else "",
        })
    return out
