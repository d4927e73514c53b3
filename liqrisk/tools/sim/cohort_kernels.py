"""The numba kernel of the agent-based market: one pair, minute by minute.

Slots of its state arrays and its time steps are named in ``cohort_layout``; its random
numbers come from ``rng_nb``, its trigger queues are ``heaps_nb``.

Everything here is plain arrays so that the kernel compiles once (``cache=True``), runs
without the GIL (pairs go to threads) and its whole state can be saved to an ``.npz``
and continued later (``liqrisk.tools.sim.stream``). The random numbers come from an in-kernel
xoshiro256** generator whose four words are part of that state, so a run continued from
a saved state is the same run.

Model, per minute ``m`` (UTC open time ``t``), in ``SUBSTEPS`` sub-steps of equal length:

* fundamental log price ``x``: GARCH(1,1) variance on 1-minute returns, scaled by a slow
  log-normal volatility regime (OU, half-life of days) and an hour-of-day profile;
  Student-t(4) shocks per sub-step;
* transient log displacement ``j`` from order flow, mean-reverting (half-life minutes);
* index = exp(x + j); last (futures) price = index·(1 + premium + microstructure noise);
  mark = index·(1 + EMA of premium), Binance's "index + moving average of the basis";
* the premium follows the long/short imbalance of open leveraged notional (OU);
* cohorts of identical isolated positions open at the last price (Poisson arrivals,
  more when volatile; the long share follows momentum and leans against the premium),
  with a leverage and a per-trader notional drawn from discrete distributions; their
  liquidation price is ``entry · factor[side, leverage, size]``, the factor table being
  computed by ``liqrisk.core.liquidation.liquidation_factor`` from Binance's brackets;
* a cohort is liquidated the moment the mark crosses its liquidation price (long: mark
  <= LP, short: mark >= LP); the liquidation is a market order whose impact moves the
  price, and the kernel re-checks at once: that is a cascade (rounds 250 ms apart);
* some cohorts carry a stop-loss between entry and LP (a stop-market order on the
  last price, same impact as a liquidation, so stops cascade too); all others close
  at a lifetime drawn at opening (shorter for higher leverage); voluntary opens and
  closes are market orders with a smaller impact;
* funding settles every 8 h (00, 08, 16 UTC): mean premium of the period plus Binance's
  clamp(0.01% − P, ±0.05%), capped at ±cap.
"""

from __future__ import annotations

import numpy as np

from liqrisk.core._numba import jit
from liqrisk.tools.sim import cohort_layout as L
from liqrisk.tools.sim.heaps_nb import heap_compact_nb, heap_pop_nb, heap_push_nb
from liqrisk.tools.sim.rng_nb import normal_nb, pick_nb, poisson_nb, student_t4_nb, uniform_nb
from liqrisk.tools.sim.truth_nb import record_liquidation_nb, snapshot_levels_nb


@jit(inline=True)
def _deactivate(cid, active, apos, si):
    last = si[L.I_N_ACT] - 1
    p = apos[cid]
    moved = active[last]
    active[p] = moved
    apos[moved] = p
    apos[cid] = -1
    si[L.I_N_ACT] = last


@jit(inline=True)
def _close_cohort(cid, status, t_ev, usd_slot, c_status, c_end_ms, c_qty, c_entry, active, apos, si, sf):
    """A forced close (liquidation or stop) of cohort ``cid`` at ``t_ev``: mark it, take it
    out of the active set, the side's entry USD and OI. Returns its quantity (base)."""
    c_status[cid] = status
    c_end_ms[cid] = t_ev
    _deactivate(cid, active, apos, si)
    qty = c_qty[cid]
    sf[usd_slot] -= qty * c_entry[cid]
    sf[L.S_OI] -= qty
    return qty


@jit
def simulate_minutes(
    n_minutes, t0_ms, prm, max_opens, lev_factor, lev_nominal, lev_cdf, size_cdf,
    sf, si, rng, ring,
    c_side, c_open_ms, c_end_ms, c_status, c_entry, c_lp, c_qty, c_lev_idx, c_size_idx,
    c_stop, c_close_ms, active, apos, hl_k, hl_i, hs_k, hs_i, hc_k, hc_i, htl_k, htl_i, hts_k, hts_i,
    out_fut, out_mark, out_oi, out_index,
    ev_ms, ev_id, ev_mark,
    fu_ms, fu_rate,
    sn_ms, sn_side, sn_k, sn_usd,
):
    """Advance one pair by up to ``n_minutes`` minutes starting at UTC ``t0_ms``.

    Per-minute outputs go to row ``m`` of ``out_fut`` (open, high, low, close, volume:
    last price in quote, volume in base units), ``out_mark`` (OHLC of the mark),
    ``out_oi`` (open interest in base units at the end of the minute) and ``out_index``
    (index close). Liquidations, funding settlements and hourly truth snapshots are
    appended at the counters ``si[L.I_N_EV]``, ``si[L.I_N_FU]``, ``si[L.I_N_SN]``.

    ``max_opens`` caps the cohorts opened in one minute (``max_opens_per_minute`` of the
    density ``prm[L.P_LAMBDA]``); the arrays must keep room for that many before each minute.

    :returns: minutes done; fewer than ``n_minutes`` when an array is nearly full (the
        caller grows or drains it and calls again from there).
    """
    cap_coh = c_side.shape[0]
    cap_ev = ev_ms.shape[0]
    cap_fu = fu_ms.shape[0]
    cap_sn = sn_ms.shape[0]
    n_lev = lev_factor.shape[1]
    n_size = lev_factor.shape[2]
    sqrt_sub = np.sqrt(float(L.SUBSTEPS))
    sig_bar = prm[L.P_SIG_BAR]
    depth = prm[L.P_DEPTH]
    perm = prm[L.P_PERM]
    bucket_w = prm[L.P_BUCKET_W]
    reg_sd = prm[L.P_REG_SD]
    omega = (1.0 - prm[L.P_G_ALPHA] - prm[L.P_G_BETA]) * sig_bar * sig_bar
    ret_cap2 = (prm[L.P_RET_CAP] * sig_bar) ** 2

    for m in range(n_minutes):
        t = t0_ms + m * L.MINUTE_MS
        n_act = si[L.I_N_ACT]
        if (
            cap_coh - si[L.I_N_COH] < max_opens + 1
            or cap_ev - si[L.I_N_EV] < n_act + max_opens + 1
            or cap_fu - si[L.I_N_FU] < 2
            or cap_sn - si[L.I_N_SN] < 2 * (n_act + max_opens) + 2
        ):
            return m

        # Funding settles at the start of the minute stamped with the settlement time,
        # from the premium of the minutes before it.
        if t % L.FUNDING_MS == 0 and sf[L.S_PREM_N] > 0.0:
            p_avg = sf[L.S_PREM_ACC] / sf[L.S_PREM_N]
            rate = p_avg + min(max(prm[L.P_INTEREST] - p_avg, -0.0005), 0.0005)
            rate = min(max(rate, -prm[L.P_FUND_CAP]), prm[L.P_FUND_CAP])
            fu_ms[si[L.I_N_FU]] = t
            fu_rate[si[L.I_N_FU]] = rate
            si[L.I_N_FU] += 1
            sf[L.S_LAST_FUNDING] = rate
            sf[L.S_PREM_ACC] = 0.0
            sf[L.S_PREM_N] = 0.0

        # Volatility: slow regime × hour-of-day profile × GARCH on the last return.
        h = prm[L.P_REG_PHI] * sf[L.S_H] + reg_sd * np.sqrt(1.0 - prm[L.P_REG_PHI] ** 2) * normal_nb(rng)
        sf[L.S_H] = h
        hour = (t // L.HOUR_MS) % 24
        season = 1.0 + prm[L.P_SEASON] * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
        level = np.exp(2.0 * h - 2.0 * reg_sd * reg_sd) * season * season
        r2 = min(sf[L.S_R_PREV] * sf[L.S_R_PREV], ret_cap2)
        sig2 = omega * level + prm[L.P_G_ALPHA] * r2 + prm[L.P_G_BETA] * sf[L.S_SIG2]
        sf[L.S_SIG2] = sig2
        sig = np.sqrt(sig2)
        sig_sub = sig / sqrt_sub
        activity = min(max(np.sqrt(sig / sig_bar), L.ACTIVITY_MIN), L.ACTIVITY_MAX)

        # Who opens: momentum over the last hour pulls toward longs in a rally; a rich
        # premium (longs pay) pushes the other way.
        ptr = si[L.I_RING]
        x_hour_ago = ring[(ptr - 60) % L.RING]
        mom = (sf[L.S_X] + sf[L.S_J] - x_hour_ago) / (sig_bar * np.sqrt(60.0))
        p_long = (
            0.5 + prm[L.P_LONG_BIAS] + prm[L.P_MOM_W] * np.tanh(0.5 * mom)
            - prm[L.P_FUND_W] * np.tanh(sf[L.S_PREM] / 0.0005)
        )
        p_long = min(max(p_long, 0.1), 0.9)

        # Premium follows the imbalance of open leveraged notional.
        tot = sf[L.S_LONG_USD] + sf[L.S_SHORT_USD]
        imb = (sf[L.S_LONG_USD] - sf[L.S_SHORT_USD]) / tot if tot > 0.0 else 0.0
        target = prm[L.P_INTEREST] + prm[L.P_PREM_K] * imb
        sf[L.S_PREM] += prm[L.P_PREM_THETA] * (target - sf[L.S_PREM]) + prm[L.P_PREM_SD] * normal_nb(rng)

        prev_last = sf[L.S_LAST]
        prev_mark = sf[L.S_MARK]
        f_hi = prev_last
        f_lo = prev_last
        k_hi = prev_mark
        k_lo = prev_mark
        vol_qty = 0.0
        index = prev_last
        mark = prev_mark
        last = prev_last
        lam_sub = prm[L.P_LAMBDA] * activity / L.SUBSTEPS
        opened = 0

        for s in range(L.SUBSTEPS):
            t_sub = t + s * L.SUB_MS
            pend = sf[L.S_PENDING] * prm[L.P_FLOW_IMPACT] / depth
            sf[L.S_PENDING] = 0.0
            sf[L.S_X] += sig_sub * student_t4_nb(rng) + perm * pend
            sf[L.S_J] = sf[L.S_J] * prm[L.P_J_DECAY] + (1.0 - perm) * pend
            sf[L.S_PREM_EMA] += prm[L.P_PREM_EMA] * (sf[L.S_PREM] - sf[L.S_PREM_EMA])
            micro = prm[L.P_MICRO_SD] * normal_nb(rng)
            index = np.exp(sf[L.S_X] + sf[L.S_J])
            mark = index * (1.0 + sf[L.S_PREM_EMA])
            last = index * (1.0 + sf[L.S_PREM] + micro)
            f_hi = max(f_hi, last)
            f_lo = min(f_lo, last)
            k_hi = max(k_hi, mark)
            k_lo = min(k_lo, mark)

            # Liquidations and their cascade.
            for rnd in range(L.MAX_ROUNDS):
                t_ev = t_sub + rnd * L.ROUND_MS
                sold_usd = 0.0
                bought_usd = 0.0
                while si[L.I_HL] > 0 and -hl_k[0] >= mark:
                    cid = hl_i[0]
                    si[L.I_HL] = heap_pop_nb(hl_k, hl_i, si[L.I_HL])
                    if c_status[cid] != L.STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, L.STATUS_LIQUIDATED, t_ev, L.S_LONG_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    sold_usd += qty * c_lp[cid]
                    vol_qty += qty
                    record_liquidation_nb(cid, t_ev, mark, ev_ms, ev_id, ev_mark, si)
                while si[L.I_HS] > 0 and hs_k[0] <= mark:
                    cid = hs_i[0]
                    si[L.I_HS] = heap_pop_nb(hs_k, hs_i, si[L.I_HS])
                    if c_status[cid] != L.STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, L.STATUS_LIQUIDATED, t_ev, L.S_SHORT_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    bought_usd += qty * c_lp[cid]
                    vol_qty += qty
                    record_liquidation_nb(cid, t_ev, mark, ev_ms, ev_id, ev_mark, si)
                # Stops trigger on the last price and fill as market orders.
                while si[L.I_HTL] > 0 and -htl_k[0] >= last:
                    cid = htl_i[0]
                    si[L.I_HTL] = heap_pop_nb(htl_k, htl_i, si[L.I_HTL])
                    if c_status[cid] != L.STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, L.STATUS_STOPPED, t_ev, L.S_LONG_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    sold_usd += qty * last
                    vol_qty += qty
                while si[L.I_HTS] > 0 and hts_k[0] <= last:
                    cid = hts_i[0]
                    si[L.I_HTS] = heap_pop_nb(hts_k, hts_i, si[L.I_HTS])
                    if c_status[cid] != L.STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, L.STATUS_STOPPED, t_ev, L.S_SHORT_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    bought_usd += qty * last
                    vol_qty += qty
                if sold_usd == 0.0 and bought_usd == 0.0:
                    break
                dlog = (bought_usd - sold_usd) / depth
                sf[L.S_X] += perm * dlog
                sf[L.S_J] += (1.0 - perm) * dlog
                index = np.exp(sf[L.S_X] + sf[L.S_J])
                mark = index * (1.0 + sf[L.S_PREM_EMA])
                last = index * (1.0 + sf[L.S_PREM] + micro)
                f_hi = max(f_hi, last)
                f_lo = min(f_lo, last)
                k_hi = max(k_hi, mark)
                k_lo = min(k_lo, mark)

            # New cohorts, at the last price.
            n_new = poisson_nb(rng, lam_sub)
            for _ in range(n_new):
                if opened >= max_opens:
                    break
                side = 0 if uniform_nb(rng) < p_long else 1
                li = pick_nb(rng, lev_cdf)
                zi = pick_nb(rng, size_cdf)
                if li >= n_lev:
                    li = n_lev - 1
                if zi >= n_size:
                    zi = n_size - 1
                lp = last * lev_factor[side, li, zi]
                # An exchange refuses an order that would be liquidated at once.
                if (side == 0 and mark <= lp) or (side == 1 and mark >= lp):
                    continue
                usd = prm[L.P_COH_USD] * np.exp(
                    prm[L.P_COH_SIG] * normal_nb(rng) - 0.5 * prm[L.P_COH_SIG] ** 2
                )
                qty = usd / last
                if uniform_nb(rng) < prm[L.P_SCALP_P]:
                    life = prm[L.P_SCALP_LIFE]
                else:
                    life = prm[L.P_SWING_LIFE]
                life *= (10.0 / lev_nominal[li]) ** prm[L.P_LIFE_LEV_EXP]
                life_ms = -np.log(uniform_nb(rng)) * life * L.MINUTE_MS
                open_ms = t_sub
                cid = si[L.I_N_COH]
                si[L.I_N_COH] = cid + 1
                c_side[cid] = side
                c_open_ms[cid] = open_ms
                c_end_ms[cid] = -1
                c_status[cid] = L.STATUS_OPEN
                c_entry[cid] = last
                c_lp[cid] = lp
                c_qty[cid] = qty
                c_lev_idx[cid] = li
                c_size_idx[cid] = zi
                n_act = si[L.I_N_ACT]
                active[n_act] = cid
                apos[cid] = n_act
                si[L.I_N_ACT] = n_act + 1
                c_stop[cid] = np.nan
                c_close_ms[cid] = open_ms + int(life_ms) + 1
                if uniform_nb(rng) < prm[L.P_STOP_P]:
                    q = prm[L.P_STOP_LO] + (prm[L.P_STOP_HI] - prm[L.P_STOP_LO]) * uniform_nb(rng)
                    stop = last + q * (lp - last)
                    c_stop[cid] = stop
                    if side == 0:
                        si[L.I_HTL] = heap_push_nb(htl_k, htl_i, si[L.I_HTL], -stop, cid)
                    else:
                        si[L.I_HTS] = heap_push_nb(hts_k, hts_i, si[L.I_HTS], stop, cid)
                if side == 0:
                    si[L.I_HL] = heap_push_nb(hl_k, hl_i, si[L.I_HL], -lp, cid)
                    sf[L.S_LONG_USD] += usd
                    sf[L.S_PENDING] += usd
                else:
                    si[L.I_HS] = heap_push_nb(hs_k, hs_i, si[L.I_HS], lp, cid)
                    sf[L.S_SHORT_USD] += usd
                    sf[L.S_PENDING] -= usd
                si[L.I_HC] = heap_push_nb(hc_k, hc_i, si[L.I_HC], float(c_close_ms[cid]), cid)
                sf[L.S_OI] += qty
                vol_qty += qty
                opened += 1

            # Voluntary closes due in this sub-step.
            t_next = float(t_sub + L.SUB_MS)
            while si[L.I_HC] > 0 and hc_k[0] < t_next:
                cid = hc_i[0]
                due = int(hc_k[0])
                si[L.I_HC] = heap_pop_nb(hc_k, hc_i, si[L.I_HC])
                if c_status[cid] != L.STATUS_OPEN:
                    continue
                c_status[cid] = L.STATUS_CLOSED
                c_end_ms[cid] = max(due, t_sub)
                _deactivate(cid, active, apos, si)
                qty = c_qty[cid]
                sf[L.S_OI] -= qty
                vol_qty += qty
                if c_side[cid] == 0:
                    sf[L.S_LONG_USD] -= qty * c_entry[cid]
                    sf[L.S_PENDING] -= qty * last
                else:
                    sf[L.S_SHORT_USD] -= qty * c_entry[cid]
                    sf[L.S_PENDING] += qty * last

        # Lazy deletion leaves closed cohorts in the heaps; keep them small.
        n_act = si[L.I_N_ACT]
        if si[L.I_HL] > 2 * n_act + 4096:
            si[L.I_HL] = heap_compact_nb(hl_k, hl_i, si[L.I_HL], c_status)
        if si[L.I_HS] > 2 * n_act + 4096:
            si[L.I_HS] = heap_compact_nb(hs_k, hs_i, si[L.I_HS], c_status)
        if si[L.I_HTL] > 2 * n_act + 4096:
            si[L.I_HTL] = heap_compact_nb(htl_k, htl_i, si[L.I_HTL], c_status)
        if si[L.I_HTS] > 2 * n_act + 4096:
            si[L.I_HTS] = heap_compact_nb(hts_k, hts_i, si[L.I_HTS], c_status)

        bg = prm[L.P_BG_TURN] * sf[L.S_OI] * (sig / sig_bar) * np.exp(0.5 * normal_nb(rng) - 0.125)
        out_fut[m, 0] = prev_last
        out_fut[m, 1] = f_hi
        out_fut[m, 2] = f_lo
        out_fut[m, 3] = last
        out_fut[m, 4] = vol_qty + bg
        out_mark[m, 0] = prev_mark
        out_mark[m, 1] = k_hi
        out_mark[m, 2] = k_lo
        out_mark[m, 3] = mark
        out_oi[m] = sf[L.S_OI]
        out_index[m] = index
        sf[L.S_LAST] = last
        sf[L.S_MARK] = mark

        xj = sf[L.S_X] + sf[L.S_J]
        sf[L.S_R_PREV] = xj - sf[L.S_PREV_XJ]
        sf[L.S_PREV_XJ] = xj
        ring[ptr % L.RING] = xj
        si[L.I_RING] = (ptr + 1) % L.RING
        sf[L.S_PREM_ACC] += sf[L.S_PREM]
        sf[L.S_PREM_N] += 1.0
        si[L.I_MINUTES] += 1

        # Truth snapshot of outstanding liquidation levels, stamped with the hour it
        # describes the state at (the end of this minute).
        t_end = t + L.MINUTE_MS
        if t_end % L.HOUR_MS == 0 and n_act > 0:
            snapshot_levels_nb(t_end, n_act, active, c_side, c_lp, c_qty, bucket_w, sn_ms, sn_side, sn_k, sn_usd, si)
    return n_minutes
