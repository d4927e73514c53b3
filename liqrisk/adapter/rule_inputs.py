"""One pair's rule inputs, kept as arrays for the per-call look-ups of the callbacks.

Backtesting calls ``custom_stoploss`` once per candle per open trade; slicing a DataFrame
each time would dominate the run time. ``RuleInputs`` keeps the few columns the rules read
(``snapshot_columns``) as one float64 array, finds the row of the last candle *closed* at
a time, and builds ``rules.Snapshot`` objects by column name.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from liqrisk.core import rules
from liqrisk.core.rules import Snapshot

#: A row older than this many timeframes counts as unknown: the bot stopped analysing.
STALE_TIMEFRAMES = 3


def snapshot_columns(window: str) -> list[str]:
    """Frame columns a ``Snapshot`` of ``window`` is built from (``rules.snapshot_from_row``)."""
    return ["close",
            *(f"liq_{where}_{kind}_{x}_{window}" for where in ("below", "above")
              for kind in ("nearest", "strongest") for x in ("price", "usd")),
            f"liq_long_outstanding_usd_{window}", f"liq_short_outstanding_usd_{window}",
            "liq_funding_rate", "liq_rsi"]


def to_ns(t) -> int:
    """UTC ns as an int: a float would make ``searchsorted`` cast the int64 dates on every call."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return round(t.timestamp() * 1e6) * 1000  # datetimes carry microseconds
    return int(pd.Timestamp(t).value)


class RuleInputs:
    """One pair's rule inputs from its analysed frame.

    :param closes: int64 ns, when each row's candle closed (open date + timeframe).
    :param values: float64 ``[rows, len(snapshot_columns(window))]``, in that column order.
    :param tf_ns: the strategy timeframe in ns.
    :param window: which window's clusters the rules use (``liqrisk_window``).

    Danger zones are derived per side and per threshold set on first use (so a hyperopt
    epoch's new values are honoured).
    """

    __slots__ = ("closes", "values", "window", "_names", "_index", "_close_list", "_first", "_step",
                 "_stale_ns", "_zones")

    def __init__(self, closes: np.ndarray, values: np.ndarray, tf_ns: int, window: str) -> None:
        self._names = snapshot_columns(window)
        if values.shape[1:] != (len(self._names),):
            raise ValueError(f"values has shape {values.shape}; expected (rows, {len(self._names)}) in "
                             "snapshot_columns(window) order.")
        self.closes = closes
        self.values = values
        self.window = window
        self._index = {name: j for j, name in enumerate(self._names)}
        self._close_list = closes.tolist()  # Python ints: no numpy call per look-up
        self._first = self._close_list[0] if len(closes) else 0
        self._step = tf_ns
        self._stale_ns = STALE_TIMEFRAMES * tf_ns
        self._zones: dict[tuple, array] = {}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, window: str, tf_ns: int) -> RuleInputs:
        """From an analysed frame with a ``date`` column (UTC candle opens) and the
        ``snapshot_columns(window)``."""
        dates = pd.DatetimeIndex(pd.to_datetime(frame["date"], utc=True)).as_unit("ns").asi8
        values = frame[snapshot_columns(window)].to_numpy(np.float64)
        return cls(dates + tf_ns, values, tf_ns, window)

    def column(self, name: str) -> np.ndarray:
        """One input column by its frame name, every row."""
        return self.values[:, self._index[name]]

    def row(self, t: int) -> int:
        """Index of the last row closed at ``t`` (ns), or -1 if none or older than the
        staleness limit (the bot has not analysed a candle for 3 timeframes)."""
        closes = self._close_list
        # Candles are evenly spaced (freqtrade fills gaps), so try the arithmetic guess first.
        i = (t - self._first) // self._step
        if not (0 <= i < len(closes) - 1 and closes[i] <= t < closes[i + 1]):
            i = bisect_right(closes, t) - 1
        if i < 0 or t - closes[i] > self._stale_ns:
            return -1
        return i

    def snapshot(self, t: int) -> Snapshot | None:
        """The Snapshot of the last row closed at ``t`` (ns); None if unknown, stale, or its
        close is unusable."""
        i = self.row(t)
        if i < 0:
            return None
        # One conversion to plain floats, then by name.
        return rules.snapshot_from_row(dict(zip(self._names, self.values[i].tolist(), strict=True)), self.window)

    def in_zone(self, t: int, key: tuple, price: float) -> bool:
        """True when ``price`` lies in a danger zone (``rules.danger_zones``) of a large
        same-side cluster of the last row closed at ``t`` (ns); False when there is no such
        row, it is stale, or its close is unusable (``snapshot`` is None).

        ``key`` is ``(short, min_share, band, stop_near)``: our side and the thresholds."""
        i = self.row(t)
        if i < 0:
            return False
        z = self._zones.get(key)
        if z is None:
            if len(self._zones) >= 4:  # hyperopt: only the current epoch's thresholds matter
                self._zones.clear()
            z = self._zones[key] = self._danger_zones(*key)
        j = 4 * i
        return z[j] <= price <= z[j + 1] or z[j + 2] <= price <= z[j + 3]

    def _danger_zones(self, short: bool, min_share: float, band: float, stop_near: float) -> array:
        """Per row ``[lo1, hi1, lo2, hi2]`` (flat): the zones of the nearest and the strongest
        cluster, NaN where that cluster is not large: ``rules.large_mask`` and
        ``rules.zone_bounds``, element-wise, on rows with a usable close."""
        min_share, band, stop_near = float(min_share), float(band), float(stop_near)
        side, where, w = ("short", "above", self.window) if short else ("long", "below", self.window)
        close = self.column("close")
        out = self.column(f"liq_{side}_outstanding_usd_{w}")
        cols = []
        with np.errstate(invalid="ignore"):
            usable = np.isfinite(close) & (close > 0)
            for kind in ("nearest", "strongest"):
                price = self.column(f"liq_{where}_{kind}_price_{w}")
                large = usable & rules.large_mask(price, self.column(f"liq_{where}_{kind}_usd_{w}"), out, min_share)
                lo, hi = rules.zone_bounds(side, price, band, stop_near)
                cols += [np.where(large, lo, np.nan), np.where(large, hi, np.nan)]
        return array("d", np.column_stack(cols).ravel().tobytes())  # floats on access, not 4n objects
