"""Write downloaded open interest where freqtrade reads it, merged with what is there.

* OI candles go through freqtrade's own data handler (``get_datahandler(datadir, fmt)``,
  ``ohlcv_store(..., CandleType.OPEN_INTEREST)``) into
  ``<datadir>/futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-open_interest.<fmt>``.
* The archive's long/short statistics go to
  ``<datadir>/liqrisk_oi_metrics/<BASE>_<QUOTE>_<SETTLE>-5m-oi_metrics.feather`` (columns in
  ``metrics.py``). Not under ``futures/``: freqtrade reads every ``<pair>-<tf>-<type>`` file
  there as a candle type and stops at one it does not know.

Merging keeps every row already in a file and adds the rows of dates it lacks: a date is
never duplicated and nothing is dropped. A date present on both sides with different values
is counted as a conflict (the file's value stays). Each file is written in full to a
temporary folder beside it and renamed into place, so a run killed while writing leaves the
old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.tools.download.metrics import OI_COLUMNS, RATIO_COLUMNS

OI_METRICS_DIR = "liqrisk_oi_metrics"


def pair_to_filename(pair: str) -> str:
    """freqtrade's ``misc.pair_to_filename`` (BTC/USDT:USDT -> BTC_USDT_USDT)."""
    for ch in ["/", " ", ".", "@", "$", "+", ":"]:
        pair = pair.replace(ch, "_")
    return pair


def ratios_path(datadir: Path, pair: str) -> Path:
    return Path(datadir) / OI_METRICS_DIR / f"{pair_to_filename(pair)}-5m-oi_metrics.feather"


@contextmanager
def _freqtrade_pandas_noise():
    with warnings.catch_warnings():
        # freqtrade 2026.9 calls reset_index(inplace=True), which pandas 3.1 flags; not ours to fix.
        warnings.filterwarnings("ignore", "The inplace keyword",
                                category=getattr(pd.errors, "Pandas4Warning", FutureWarning))
        yield


def load_oi(datadir: Path, fmt: str, pair: str, timeframe: str) -> pd.DataFrame | None:
    """The pair's OI candles at ``timeframe`` as freqtrade loads them, or None without a file."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    with _freqtrade_pandas_noise():
        df = get_datahandler(Path(datadir), fmt).ohlcv_load(
            pair, timeframe, CandleType.OPEN_INTEREST, fill_missing=False, warn_no_data=False)
    return None if df is None or df.empty else df[list(OI_COLUMNS)]


def merge(existing: pd.DataFrame | None, new: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """(merged rows sorted by date, rows added, conflicts). Rows of ``existing`` win."""
    if existing is None or existing.empty:
        out = new.sort_values("date", kind="stable").drop_duplicates("date", keep="last")
        return out.reset_index(drop=True), len(out), 0
    new, existing = new.copy(), existing.copy()
    new["date"] = new["date"].dt.as_unit("ms")
    existing["date"] = existing["date"].dt.as_unit("ms")
    have = existing["date"].isin(new["date"]).to_numpy()
    fresh = ~new["date"].isin(existing["date"]).to_numpy()
    conflicts = 0
    if have.any():
        a = existing[have].set_index("date").sort_index()
        b = new[~fresh].drop_duplicates("date", keep="last").set_index("date").sort_index()
        cols = [c for c in a.columns if c in b.columns]
        x, y = a[cols].to_numpy(dtype=np.float64), b.loc[a.index, cols].to_numpy(dtype=np.float64)
        same = np.isclose(x, y, rtol=1e-9, atol=0.0, equal_nan=True)
        conflicts = int((~same.all(axis=1)).sum())
    added = new[fresh].drop_duplicates("date", keep="last")
    out = pd.concat([existing, added], ignore_index=True).sort_values("date", kind="stable")
    return out.reset_index(drop=True), len(added), conflicts


def _replace_from(staging: Path, target_dir: Path) -> Path:
    written = [p for p in staging.rglob("*") if p.is_file()]
    if len(written) != 1:  # pragma: no cover - the handler writes one file
        raise RuntimeError(f"expected one file in {staging}, found {written}")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / written[0].name
    os.replace(written[0], target)
    return target


def store_oi(datadir: Path, fmt: str, pair: str, timeframe: str, frame: pd.DataFrame) -> Path:
    """Write ``frame`` (all rows of the file) with freqtrade's handler; atomic rename."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    datadir = Path(datadir)
    datadir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".liqrisk-download-", dir=datadir))
    try:
        get_datahandler(staging, fmt).ohlcv_store(pair, timeframe, frame[list(OI_COLUMNS)].reset_index(drop=True),
                                                  CandleType.OPEN_INTEREST)
        return _replace_from(staging, datadir / "futures")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_ratios(datadir: Path, pair: str) -> pd.DataFrame | None:
    path = ratios_path(datadir, pair)
    if not path.is_file():
        return None
    df = pd.read_feather(path)
    return df if not df.empty else None


def store_ratios(datadir: Path, pair: str, frame: pd.DataFrame) -> Path:
    """Write the long/short statistics file (feather, lz4 as freqtrade stores); atomic rename."""
    path = ratios_path(datadir, pair)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    frame[["date", *RATIO_COLUMNS]].reset_index(drop=True).to_feather(tmp, compression="lz4")
    os.replace(tmp, path)
    return path
