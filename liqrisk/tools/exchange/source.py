"""Where the local exchange gets its market data: the ``MarketSource`` protocol and ``ReplaySource``.

A source hands out freqtrade-shaped DataFrames (``date`` = UTC candle open, tz-aware). The
server never reads files itself; replay and the simulator's live mode look the same to it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd

from liqrisk.errors import DataError

logger = logging.getLogger(__name__)

#: Candle kinds a source serves, with the columns each frame carries besides ``date``.
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "futures": ("open", "high", "low", "close", "volume"),
    "mark": ("open", "high", "low", "close", "volume"),
    "funding_rate": ("funding_rate",),
    "open_interest": ("open_interest_amount", "open_interest_value"),
}

#: freqtrade data formats tried in this order when looking for files.
DATA_FORMATS: tuple[str, ...] = ("feather", "parquet", "json", "jsongz")


@runtime_checkable
class MarketSource(Protocol):
    """Market data for the local exchange.

    ``pairs`` are ccxt symbols ("BTC/USDT:USDT"). ``frame`` returns the freqtrade columns of
    ``kind`` ("futures", "mark": date, open, high, low, close, volume; "funding_rate": date,
    funding_rate; "open_interest": date, open_interest_amount, open_interest_value) at
    ``timeframe``, sorted by ``date`` (UTC candle open), or None when there is none.
    ``refresh(now_ms)`` lets a live source generate candles up to ``now_ms`` (epoch ms);
    replay sources ignore it.
    """

    pairs: list[str]

    def refresh(self, now_ms: int) -> None: ...

    def frame(self, pair: str, kind: str, timeframe: str) -> pd.DataFrame | None: ...


def exchange_dir(datadir: Path, exchange: str = "binance") -> Path:
    """The folder holding ``futures/``: ``<datadir>/<exchange>`` or ``datadir`` itself.

    ``exchange`` must be an exchange id (``[a-z0-9_]+``): it becomes a folder name."""
    from liqrisk.tools.datadir import check_exchange_name

    check_exchange_name(exchange)
    datadir = Path(datadir)
    if (datadir / exchange / "futures").is_dir():
        return datadir / exchange
    if (datadir / "futures").is_dir():
        return datadir
    raise DataError(
        f"datadir {str(datadir)!r} has no {exchange}/futures/ folder; point it at freqtrade's data "
        f"folder (e.g. user_data/data) after `freqtrade download-data --trading-mode futures`."
    )


class ReplaySource:
    """Serve freqtrade's futures data files of one exchange folder as they are.

    Files: ``<datadir>/binance/futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-<kind>.<format>``, read with
    freqtrade's own data handler (so legacy funding files with the rate in ``open`` work too).
    Frames are loaded on first use and kept in memory.
    """

    def __init__(self, datadir: Path | str, exchange: str = "binance"):
        self.root = exchange_dir(Path(datadir), exchange)
        # freqtrade is slow to import; only once the folder is known to exist.
        from freqtrade.data.history.datahandlers import get_datahandler
        from freqtrade.enums import TradingMode

        self._available: dict[tuple[str, str, str], object] = {}
        for fmt in DATA_FORMATS:
            handler = get_datahandler(self.root, fmt)
            for pair, tf, candle_type in handler.ohlcv_get_available_data(self.root, TradingMode.FUTURES):
                kind = str(candle_type)
                if kind in KIND_COLUMNS and ":" in pair:
                    self._available.setdefault((pair, kind, tf), handler)
        self.pairs: list[str] = sorted({p for (p, k, _tf) in self._available if k == "futures"})
        if not self.pairs:
            raise DataError(
                f"no futures candle files in {str(self.root / 'futures')!r} (expected names like "
                "BTC_USDT_USDT-5m-futures.feather)."
            )
        self._frames: dict[tuple[str, str, str], pd.DataFrame | None] = {}

    def timeframes(self, pair: str, kind: str) -> list[str]:
        """Timeframes with a file for ``pair`` and ``kind``."""
        return [tf for (p, k, tf) in self._available if p == pair and k == kind]

    def refresh(self, now_ms: int) -> None:
        """Replay data is fixed: nothing to do."""

    def frame(self, pair: str, kind: str, timeframe: str) -> pd.DataFrame | None:
        key = (pair, kind, timeframe)
        if key not in self._frames:
            self._frames[key] = self._load(*key)
        return self._frames[key]

    def _load(self, pair: str, kind: str, timeframe: str) -> pd.DataFrame | None:
        from freqtrade.enums import CandleType

        handler = self._available.get((pair, kind, timeframe))
        if handler is None:
            return None
        df = handler.ohlcv_load(
            pair, timeframe, CandleType.from_string(kind), fill_missing=False, warn_no_data=False
        )
        if df is None or df.empty:
            return None
        missing = [c for c in KIND_COLUMNS[kind] if c not in df.columns]
        if missing:
            logger.warning("ignoring %s %s %s: columns %s missing", pair, timeframe, kind, missing)
            return None
        return df[["date", *KIND_COLUMNS[kind]]].sort_values("date").reset_index(drop=True)


def open_source(datadir: Path | str, *, live: bool = False, seed: int | None = None) -> MarketSource:
    """Replay the files of ``datadir``, or, with ``live``, the simulator's live market seeded by them."""
    if not live:
        return ReplaySource(datadir)
    try:
        from liqrisk.tools.sim.stream import LiveMarket  # type: ignore[import-not-found]
    except ImportError as e:
        raise DataError(
            "live=True needs liqrisk.tools.sim.stream.LiveMarket, which is not available in this install "
            f"({e}). Replay the datadir instead (live=False)."
        ) from e
    return LiveMarket(datadir, seed=seed)
