"""What the simulator's kernel records as ground truth: liquidations and hourly level snapshots.

Both append at a counter in the integer state (``si[I_N_EV]``, ``si[I_N_SN]``); the
caller (``pair_market.PairMarket``) drains the arrays into ``liquidations.parquet`` and
``levels_1h.parquet``. Times are UTC milliseconds; USD means quote currency.
"""

from __future__ import annotations

import numpy as np

from liqrisk.core._numba import jit
from liqrisk.tools.sim.cohort_layout import I_N_EV, I_N_SN


@jit(inline=True)
def record_liquidation_nb(cid, t_ev, mark, ev_ms, ev_id, ev_mark, si):
    """Append the liquidation of cohort ``cid`` at ``t_ev`` (mark price ``mark``)."""
    ev_ms[si[I_N_EV]] = t_ev
    ev_id[si[I_N_EV]] = cid
    ev_mark[si[I_N_EV]] = mark
    si[I_N_EV] += 1


@jit(inline=True)
def snapshot_levels_nb(t_end, n_act, active, c_side, c_lp, c_qty, bucket_w, sn_ms, sn_side, sn_k, sn_usd, si):
    """Append the outstanding liquidation USD of the ``n_act`` open cohorts at ``t_end``,
    per side and log-price bucket ``floor(ln(LP) / bucket_w)``, one row per non-empty bucket."""
    k_min = np.int64(1 << 62)
    k_max = -k_min
    for a in range(n_act):
        kb = np.int64(np.floor(np.log(c_lp[active[a]]) / bucket_w))
        k_min = min(k_min, kb)
        k_max = max(k_max, kb)
    width = k_max - k_min + 1
    hist = np.zeros((2, width))
    for a in range(n_act):
        cid = active[a]
        kb = np.int64(np.floor(np.log(c_lp[cid]) / bucket_w))
        hist[c_side[cid], kb - k_min] += c_qty[cid] * c_lp[cid]
    for side in range(2):
        for b in range(width):
            if hist[side, b] > 0.0:
                n_sn = si[I_N_SN]
                sn_ms[n_sn] = t_end
                sn_side[n_sn] = side
                sn_k[n_sn] = k_min + b
                sn_usd[n_sn] = hist[side, b]
                si[I_N_SN] = n_sn + 1
