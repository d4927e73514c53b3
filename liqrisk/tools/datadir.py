"""Read one pair's futures data from a freqtrade datadir, with freqtrade's own data handlers.

This is tool code (for ``liqrisk heatmap``, ``map``, ``validate``), not the core: it
imports freqtrade lazily. Layout, as freqtrade writes it:
``<datadir>/futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-<candle type>.feather`` where
``<datadir>`` is the config's ``datadir`` or ``user_data/data/<exchange>``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from liqrisk.errors import ConfigError, DataError


@dataclass
class MarketData:
    """Frames in freqtrade's columns; None where the datadir has no such file."""

    pair: str
    timeframe: str
    datadir: Path
    ohlcv: pd.DataFrame
    open_interest: pd.DataFrame | None
    funding_rate: pd.DataFrame | None
    mark: pd.DataFrame | None

    def engine_inputs(self) -> dict:
        """Keyword arguments for ``compute_features`` / ``liquidation_heatmap``."""
        return {"open_interest": self.open_interest, "funding_rate": self.funding_rate, "mark": self.mark,
                "pair": self.pair, "timeframe": self.timeframe}


def read_config(path: str | Path) -> dict:
    """A freqtrade config file as a dict (freqtrade's loader accepts comments)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path}: no such file.")
    try:
        from freqtrade.configuration.load_config import load_config_file

        return load_config_file(str(path))
    except ImportError:  # pragma: no cover - freqtrade is a dependency
        return json.loads(path.read_text())
    except Exception as e:  # freqtrade raises OperationalException for bad JSON
        raise ConfigError(f"config file {path}: {e}") from e


def resolve_datadir(config: str | Path | None = None, datadir: str | Path | None = None) -> Path:
    """freqtrade's rule: ``--datadir``, else the config's ``datadir``, else
    ``<user_data_dir or user_data>/data/<exchange.name>``. A ``--datadir`` without the
    exchange folder (e.g. ``user_data/data``) is accepted when ``binance/`` is inside it."""
    cfg = read_config(config) if config else {}
    exchange = (cfg.get("exchange") or {}).get("name", "binance")
    if datadir is None:
        datadir = cfg.get("datadir") or Path(cfg.get("user_data_dir", "user_data")) / "data" / exchange
    path = Path(datadir)
    if not (path / "futures").is_dir() and (path / exchange / "futures").is_dir():
        path = path / exchange
    return path


def load_market(
    pair: str, timeframe: str, *, config: str | Path | None = None, datadir: str | Path | None = None,
    timerange: str | None = None, startup_candles: int = 0, funding_timeframe: str = "1h",
) -> MarketData:
    """Load futures OHLCV, and open_interest, funding_rate and mark candles when present.

    :param timerange: freqtrade syntax, e.g. ``"20250101-20250201"``; history of
        ``startup_candles`` before its start is loaded too (as freqtrade does).
    :raises DataError: no futures candles for the pair in the datadir / timerange.
    """
    from freqtrade.configuration import TimeRange
    from freqtrade.data.history import load_pair_history
    from freqtrade.enums import CandleType

    path = resolve_datadir(config, datadir)
    try:
        tr = TimeRange.parse_timerange(timerange) if timerange else None
    except Exception as e:
        raise ConfigError(f"timerange {timerange!r}: {e}") from e

    def load(candle_type, tf, startup=startup_candles):
        with warnings.catch_warnings():
            # freqtrade 2026.9 calls reset_index(inplace=True), which pandas 3.1 flags;
            # harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "The inplace keyword", category=getattr(pd.errors, "Pandas4Warning", FutureWarning))
            df = load_pair_history(pair, tf, path, timerange=tr, candle_type=candle_type, startup_candles=startup,
                                   fill_up_missing=candle_type == CandleType.FUTURES, data_format="feather")
        return df if df is not None and not df.empty else None

    ohlcv = load(CandleType.FUTURES, timeframe)
    if ohlcv is None:
        files = sorted(p.name for p in (path / "futures").glob("*-futures.feather")) if (path / "futures").is_dir() else []
        raise DataError(
            f"no {timeframe} futures candles for {pair} in {path / 'futures'}"
            + (f" within {timerange}" if timerange else "")
            + (f"; found: {', '.join(files[:8])}" if files else "; the folder has no futures data (run liqrisk simulate or freqtrade download-data)")
        )
    # Auxiliary series: load a little more history than the candles need, so the
    # first candles' as-of lookups find their rows.
    return MarketData(
        pair=pair, timeframe=timeframe, datadir=path, ohlcv=ohlcv.reset_index(drop=True),
        open_interest=load(CandleType.OPEN_INTEREST, timeframe),
        funding_rate=load(CandleType.FUNDING_RATE, funding_timeframe),
        mark=load(CandleType.MARK, timeframe),
    )
