"""Small internal helpers: timeframe parsing and once-per-key warnings."""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager

import numpy as np
import pandas as pd

from liqrisk.errors import ConfigError

logger = logging.getLogger("liqrisk")

_TF_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TF_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
#: The longest duration accepted anywhere (windows, staleness, half-lives): 100 years.
#: Longer ones overflow int64 nanoseconds once added to a date (``'999999999999w'``).
MAX_DURATION_NS = 36_500 * 86_400 * 1_000_000_000
#: Candle timeframes freqtrade's exchanges offer (ccxt's ``timeframes``; the list the
#: freqtrade docs give). Months have no fixed length, so ``'1M'`` is listed but refused.
CANDLE_TIMEFRAMES = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")


def timeframe_to_ns(timeframe: str, *, key: str = "timeframe") -> int:
    """Parse a freqtrade-style duration ('5m', '1h', '12h', '1d', '1w') into nanoseconds.

    Months ('1M') are rejected: they have no fixed length.
    """
    match = _TF_RE.match(str(timeframe))
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"{key}={timeframe!r} is not a duration; use a positive number and one of "
            "s, m, h, d, w (for example '5m', '12h', '1d', '1w')."
        )
    ns = int(match.group(1)) * _TF_UNITS_S[match.group(2)] * 1_000_000_000
    if ns > MAX_DURATION_NS:
        raise ConfigError(
            f"{key}={timeframe!r} is longer than 100 years, which overflows nanosecond dates; "
            "use at most '36500d' (for example '1w')."
        )
    return ns


def candle_timeframe_ns(timeframe: str) -> int:
    """The length of one candle of freqtrade ``timeframe`` (for example ``'5m'``), in ns.

    Only freqtrade's timeframes are accepted (``CANDLE_TIMEFRAMES``): a made-up one such
    as ``'7m'`` is a typo, and the candle length decides what each row may know.
    """
    if timeframe == "1M":
        raise ConfigError("timeframe='1M' (monthly candles) is not supported: months have no fixed length; "
                          "use '1w' or shorter.")
    if timeframe not in CANDLE_TIMEFRAMES:
        raise ConfigError(f"timeframe={timeframe!r} is not a freqtrade timeframe; use one of "
                          f"{', '.join(CANDLE_TIMEFRAMES[:-1])}.")
    return timeframe_to_ns(timeframe)


_warned: set[tuple] = set()
_quiet = threading.local()


def warn_once(key: tuple, message: str, *args) -> None:
    """Log a warning once per process for `key` (for example ('no_oi', pair)).

    A bot calls the engine on every candle; repeating the same warning every five
    minutes buries it, so each distinct problem is logged once.
    """
    if key in _warned or getattr(_quiet, "on", False):
        return
    _warned.add(key)
    logger.warning(message, *args)


@contextmanager
def quiet_warnings():
    """Within the block (in this thread only), ``warn_once`` neither logs nor uses up its
    keys: the kernel warm-up must not spend a real pair's one warning."""
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before


def reset_warnings() -> None:
    """Forget which warnings were logged (tests use it)."""
    _warned.clear()


def as_float_array(values) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64))


def to_utc(value) -> pd.Timestamp:
    """A timestamp in UTC; naive values are taken as UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
