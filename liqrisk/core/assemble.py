"""The feature table: the engine's raw output as ``liq_*`` columns, one row per candle.

Column order is ``feature_columns(windows)``; values are float64 (flags are 0.0 / 1.0).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from liqrisk.core import kernels as k
from liqrisk.core.engine import RawResult
from liqrisk.core.model import ModelInputs


def feature_columns(windows) -> list[str]:
    """Every column ``compute_features`` returns, in order."""
    cols = []
    for w in windows:
        cols += [
            f"liq_long_est_usd_{w}", f"liq_short_est_usd_{w}",
            f"liq_long_outstanding_usd_{w}", f"liq_short_outstanding_usd_{w}", f"liq_imbalance_{w}",
        ]
        for where in ("above", "below"):
            for kind in ("nearest", "strongest"):
                cols += [f"liq_{where}_{kind}_{x}_{w}" for x in ("price", "usd", "dist")]
    cols += [
        "liq_confluence_above", "liq_confluence_above_price",
        "liq_confluence_below", "liq_confluence_below_price",
        "liq_seed_usd", "liq_long_share", "liq_oi_fallback", "liq_funding_fallback",
    ]
    return cols


@functools.lru_cache(maxsize=32)
def _columns_index(windows: tuple) -> pd.Index:
    """``feature_columns(windows)`` as one shared, immutable Index: a live step builds a
    frame per candle, and the list and its Index cost more than the frame itself."""
    return pd.Index(feature_columns(windows))


def feature_matrix(inputs: ModelInputs, raw: RawResult, windows, rows: slice = slice(None)) -> np.ndarray:
    """float64 [rows, columns] in ``feature_columns(windows)`` order, written in place."""
    ref = inputs.ref_price[rows]
    n_rows = len(ref)
    # Column-major: every column is written (and later read by pandas) contiguously.
    matrix = np.empty((n_rows, len(_columns_index(tuple(windows)))), order="F")
    col = 0

    def put(values) -> None:
        nonlocal col
        matrix[:, col] = values
        col += 1

    # Bucket slots hold relative indices as floats, −1 for none: a lookup whose last
    # entry is NaN turns them into prices without an exp per row.
    centers = np.append(inputs.bucket_center(np.arange(inputs.n_buckets)), np.nan)

    def price_of(bucket_row: np.ndarray) -> np.ndarray:
        # NaN: no confluence (one window). Slots never hold inf; np.where is ~4x faster
        # than np.nan_to_num on a live step's one row.
        return centers.take(np.where(np.isnan(bucket_row), -1.0, bucket_row).astype(np.intp))

    with np.errstate(invalid="ignore", divide="ignore"):
        for w in range(len(windows)):
            o = raw.out[w][..., rows]
            long_out, short_out = o[0, k.OUTSTANDING], o[1, k.OUTSTANDING]
            both = long_out + short_out
            for values in (o[0, k.EST], o[1, k.EST], long_out, short_out,
                           np.where(both > 0, (short_out - long_out) / both, 0.0)):
                put(values)
            for side in (1, 0):  # above (short levels), then below (long levels)
                for b_slot, u_slot in ((k.NEAR_BUCKET, k.NEAR_USD), (k.STRONG_BUCKET, k.STRONG_USD)):
                    price = price_of(o[side, b_slot])
                    put(price)
                    put(o[side, u_slot])
                    put(np.abs(price / ref - 1.0))
        for side in (1, 0):
            put(raw.conf[side, 0][rows])
            put(price_of(raw.conf[side, 1][rows]))
    for values in (raw.seeded[rows], inputs.long_share[rows], inputs.oi_fallback[rows], inputs.funding_fallback[rows]):
        put(values)
    return matrix


def features_frame(matrix: np.ndarray, index: pd.Index, windows) -> pd.DataFrame:
    """The public DataFrame: one float64 block (flags are 0.0 / 1.0), cheap to build per candle."""
    return pd.DataFrame(matrix, index=index, columns=_columns_index(tuple(windows)), copy=False)


def assemble_features(inputs: ModelInputs, raw: RawResult, index: pd.Index, windows) -> pd.DataFrame:
    return features_frame(feature_matrix(inputs, raw, windows), index, windows)


def assemble_ledger(raw: RawResult, index: pd.Index, windows) -> pd.DataFrame:
    """Per-window USD flows per candle: seeded = outstanding + consumed + expired + closed + decayed."""
    data = {}
    for w, name in enumerate(windows):
        data[f"seeded_{name}"] = raw.seeded
        data[f"consumed_{name}"] = raw.out[w, 0, k.EST] + raw.out[w, 1, k.EST]
        data[f"expired_{name}"] = raw.ledger[w, k.EXPIRED]
        data[f"closed_{name}"] = raw.ledger[w, k.CLOSED]
        data[f"decayed_{name}"] = raw.ledger[w, k.DECAYED]
        data[f"outstanding_{name}"] = raw.out[w, 0, k.OUTSTANDING] + raw.out[w, 1, k.OUTSTANDING]
    return pd.DataFrame(data, index=index)
