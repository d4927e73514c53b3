"""The fast engine: runs the numba kernels on prepared ``ModelInputs``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqrisk.core import kernels
from liqrisk.model import ModelInputs


@dataclass
class RawResult:
    """Engine output before it becomes a DataFrame.

    ``out[w, side, slot, t]`` with slots ``kernels.EST`` .. ``kernels.STRONG_USD``
    (bucket slots hold relative bucket indices, −1 for none); ``conf[side, 0|1, t]`` =
    (score, bucket); ``ledger[w, slot, t]`` = expired / closed / decayed USD;
    ``seeded[t]`` = USD seeded at t (the same for every window).
    """

    out: np.ndarray
    conf: np.ndarray
    ledger: np.ndarray
    seeded: np.ndarray


def crossings(inputs: ModelInputs, horizon: np.ndarray) -> np.ndarray:
    """int32 [n, L]: first candle crossing each level before ``horizon[s]`` (else n)."""
    n = inputs.n
    span = int(np.max(horizon - np.arange(n) - 1)) if n else 0
    n_log = max(1, span.bit_length())
    return kernels.first_crossing_nb(
        inputs.level_price, inputs.level_bucket, inputs.n_tiers * 3,
        inputs.cons_low, inputs.cons_high, horizon.astype(np.int64), n_log,
    )


def run_fast(inputs: ModelInputs) -> RawResult:
    expiry = inputs.expiry_index()
    cross = crossings(inputs, expiry.max(axis=0))
    post, pre = inputs.log_scales()
    out, conf, ledger, seeded = kernels.engine_nb(
        inputs.ref_bucket, inputs.level_bucket, inputs.seed_usd, inputs.tier_weight,
        inputs.entry_weight, inputs.tier_group, cross, expiry, post, pre,
        inputs.n_buckets, inputs.cluster_threshold,
    )
    return RawResult(out=out, conf=conf, ledger=ledger, seeded=seeded)
