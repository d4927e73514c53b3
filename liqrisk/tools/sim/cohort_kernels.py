"""The numba kernel of the agent-based market: one pair, minute by minute.

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
from numba import njit

SUBSTEPS = 6
MINUTE_MS = 60_000
SUB_MS = MINUTE_MS // SUBSTEPS
HOUR_MS = 3_600_000
FUNDING_MS = 8 * HOUR_MS
MAX_ROUNDS = 40
ROUND_MS = SUB_MS // MAX_ROUNDS
# Cohorts one minute may open, at least (``max_opens_per_minute`` raises it with the
# density). It also sizes the headroom checked before each minute.
MAX_OPENS_PER_MINUTE = 300
# Openings per minute are Poisson with mean rate × activity, activity in [0.5, 3.0].
ACTIVITY_MIN = 0.5
ACTIVITY_MAX = 3.0

# Indices of the float parameters (``prm``).
P_SIG_BAR = 0  # mean 1-minute log-return sd (fraction)
P_G_ALPHA = 1
P_G_BETA = 2
P_REG_PHI = 3  # per-minute AR coefficient of the log-vol regime
P_REG_SD = 4  # stationary sd of the log-vol regime
P_LAMBDA = 5  # mean cohort openings per minute
P_COH_USD = 6  # mean cohort notional, USD (quote)
P_COH_SIG = 7  # log-normal sd of cohort notional
P_DEPTH = 8  # USD of net market selling that moves the log price by 1.0
P_PERM = 9  # share of the impact that is permanent
P_J_DECAY = 10  # per-sub-step decay of the transient displacement
P_FLOW_IMPACT = 11  # impact of voluntary flow relative to liquidations
P_PREM_THETA = 12  # per-minute mean reversion of the premium
P_PREM_SD = 13  # per-minute premium noise sd
P_PREM_K = 14  # premium per unit of long/short imbalance
P_PREM_EMA = 15  # per-sub-step EMA weight of the mark's basis
P_MICRO_SD = 16  # last-price microstructure noise sd
P_INTEREST = 17  # funding interest per 8 h (0.0001)
P_FUND_CAP = 18  # funding cap per 8 h (fraction)
P_LONG_BIAS = 19
P_MOM_W = 20
P_FUND_W = 21
P_SCALP_P = 22  # share of short-lived (scalper) cohorts
P_SCALP_LIFE = 23  # mean scalper lifetime, minutes
P_SWING_LIFE = 24  # mean swing lifetime, minutes
P_LIFE_LEV_EXP = 25  # lifetime ∝ (10 / leverage) ** this
P_BG_TURN = 26  # background volume per minute as a share of OI, at average vol
P_BUCKET_W = 27  # log width of a truth price bucket
P_RET_CAP = 28  # cap of |1m return| fed into GARCH, in units of sig_bar
P_SEASON = 29  # amplitude of the hour-of-day volatility profile
P_STOP_P = 30  # share of cohorts with a stop-loss
P_STOP_LO = 31  # the stop sits this share (uniform lo..hi) of the way from entry to LP
P_STOP_HI = 32
N_PRM = 34

# Indices of the float state (``sf``).
S_X = 0
S_J = 1
S_H = 2
S_SIG2 = 3
S_PREM = 4
S_PREM_EMA = 5
S_PREM_ACC = 6
S_PREM_N = 7
S_LAST_FUNDING = 8
S_R_PREV = 9
S_OI = 10  # open interest, base units
S_LONG_USD = 11  # open long notional at entry, USD
S_SHORT_USD = 12
S_LAST = 13  # last price at the end of the previous minute
S_MARK = 14
S_PENDING = 15  # net voluntary flow (USD, + = buying) not yet turned into impact
S_PREV_XJ = 16
N_SF = 20

# Indices of the integer state (``si``).
I_N_COH = 0  # cohorts ever opened (next cohort id)
I_N_ACT = 1
I_HL = 2  # sizes of the long-liquidation, short-liquidation and close heaps
I_HS = 3
I_HC = 4
I_N_EV = 5  # pending outputs since the last drain
I_N_FU = 6
I_N_SN = 7
I_RING = 8  # write position of the momentum ring
I_MINUTES = 9  # minutes simulated so far
I_HTL = 10  # sizes of the long-stop and short-stop heaps
I_HTS = 11
N_SI = 12

RING = 256

STATUS_OPEN = 0
STATUS_CLOSED = 1
STATUS_LIQUIDATED = 2
STATUS_STOPPED = 3


@njit(inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(inline="always")
def _next_u64(s):
    result = _rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(inline="always")
def _uniform(s):
    """Uniform on the open interval (0, 1)."""
    return (float(_next_u64(s) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


@njit(inline="always")
def _normal(s):
    return np.sqrt(-2.0 * np.log(_uniform(s))) * np.cos(2.0 * np.pi * _uniform(s))


@njit(inline="always")
def _student_t4_unit(s):
    """Student-t with 4 degrees of freedom, scaled to unit variance.

    chi²(4) is −2·ln(U1·U2), so no gamma sampler is needed.
    """
    chi2 = -2.0 * np.log(_uniform(s) * _uniform(s))
    return _normal(s) / np.sqrt(chi2 / 4.0) / np.sqrt(2.0)


@njit(inline="always")
def _poisson(s, lam):
    limit = np.exp(-lam)
    k = 0
    p = _uniform(s)
    while p > limit:
        k += 1
        p *= _uniform(s)
    return k


@njit(inline="always")
def _pick(s, cdf):
    u = _uniform(s) * cdf[cdf.shape[0] - 1]
    return np.searchsorted(cdf, u, side="right")


@njit(inline="always")
def _heap_push(key, ids, n, k, i):
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        if key[parent] <= k:
            break
        key[pos] = key[parent]
        ids[pos] = ids[parent]
        pos = parent
    key[pos] = k
    ids[pos] = i
    return n + 1


@njit(inline="always")
def _sift_down(key, ids, n, pos):
    k = key[pos]
    i = ids[pos]
    while True:
        c = 2 * pos + 1
        if c >= n:
            break
        if c + 1 < n and key[c + 1] < key[c]:
            c += 1
        if key[c] >= k:
            break
        key[pos] = key[c]
        ids[pos] = ids[c]
        pos = c
    key[pos] = k
    ids[pos] = i


@njit(inline="always")
def _heap_pop(key, ids, n):
    n -= 1
    if n > 0:
        key[0] = key[n]
        ids[0] = ids[n]
        _sift_down(key, ids, n, 0)
    return n


@njit
def _heap_compact(key, ids, n, status):
    """Drop entries of cohorts that are no longer open, then re-heapify (O(n))."""
    w = 0
    for r in range(n):
        if status[ids[r]] == STATUS_OPEN:
            key[w] = key[r]
            ids[w] = ids[r]
            w += 1
    for pos in range(w // 2 - 1, -1, -1):
        _sift_down(key, ids, w, pos)
    return w


@njit(inline="always")
def _deactivate(cid, active, apos, si):
    last = si[I_N_ACT] - 1
    p = apos[cid]
    moved = active[last]
    active[p] = moved
    apos[moved] = p
    apos[cid] = -1
    si[I_N_ACT] = last


@njit(inline="always")
def _close_cohort(cid, status, t_ev, usd_slot, c_status, c_end_ms, c_qty, c_entry, active, apos, si, sf):
    """A forced close (liquidation or stop) of cohort ``cid`` at ``t_ev``: mark it, take it
    out of the active set, the side's entry USD and OI. Returns its quantity (base)."""
    c_status[cid] = status
    c_end_ms[cid] = t_ev
    _deactivate(cid, active, apos, si)
    qty = c_qty[cid]
    sf[usd_slot] -= qty * c_entry[cid]
    sf[S_OI] -= qty
    return qty


@njit(inline="always")
def _record_liquidation(cid, t_ev, mark, ev_ms, ev_id, ev_mark, si):
    ev_ms[si[I_N_EV]] = t_ev
    ev_id[si[I_N_EV]] = cid
    ev_mark[si[I_N_EV]] = mark
    si[I_N_EV] += 1


def max_opens_per_minute(cohorts_per_minute: float) -> int:
    """Cap on the cohorts one minute opens at mean rate ``cohorts_per_minute``.

    At the busiest (activity ``ACTIVITY_MAX``) openings are Poisson with mean
    ``3 · rate``; the cap sits 8 standard deviations above that, so it never binds in
    practice, and never below ``MAX_OPENS_PER_MINUTE`` (so the default density keeps the
    cap, and the arrays' headroom, it always had).
    """
    peak = ACTIVITY_MAX * float(cohorts_per_minute)
    return max(MAX_OPENS_PER_MINUTE, int(np.ceil(peak + 8.0 * np.sqrt(peak) + 8.0)))


@njit(cache=True, nogil=True)
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
    appended at the counters ``si[I_N_EV]``, ``si[I_N_FU]``, ``si[I_N_SN]``.

    ``max_opens`` caps the cohorts opened in one minute (``max_opens_per_minute`` of the
    density ``prm[P_LAMBDA]``); the arrays must keep room for that many before each minute.

    :returns: minutes done; fewer than ``n_minutes`` when an array is nearly full (the
        caller grows or drains it and calls again from there).
    """
    cap_coh = c_side.shape[0]
    cap_ev = ev_ms.shape[0]
    cap_fu = fu_ms.shape[0]
    cap_sn = sn_ms.shape[0]
    n_lev = lev_factor.shape[1]
    n_size = lev_factor.shape[2]
    sqrt_sub = np.sqrt(float(SUBSTEPS))
    sig_bar = prm[P_SIG_BAR]
    depth = prm[P_DEPTH]
    perm = prm[P_PERM]
    bucket_w = prm[P_BUCKET_W]
    reg_sd = prm[P_REG_SD]
    omega = (1.0 - prm[P_G_ALPHA] - prm[P_G_BETA]) * sig_bar * sig_bar
    ret_cap2 = (prm[P_RET_CAP] * sig_bar) ** 2

    for m in range(n_minutes):
        t = t0_ms + m * MINUTE_MS
        n_act = si[I_N_ACT]
        if (
            cap_coh - si[I_N_COH] < max_opens + 1
            or cap_ev - si[I_N_EV] < n_act + max_opens + 1
            or cap_fu - si[I_N_FU] < 2
            or cap_sn - si[I_N_SN] < 2 * (n_act + max_opens) + 2
        ):
            return m

        # Funding settles at the start of the minute stamped with the settlement time,
        # from the premium of the minutes before it.
        if t % FUNDING_MS == 0 and sf[S_PREM_N] > 0.0:
            p_avg = sf[S_PREM_ACC] / sf[S_PREM_N]
            rate = p_avg + min(max(prm[P_INTEREST] - p_avg, -0.0005), 0.0005)
            rate = min(max(rate, -prm[P_FUND_CAP]), prm[P_FUND_CAP])
            fu_ms[si[I_N_FU]] = t
            fu_rate[si[I_N_FU]] = rate
            si[I_N_FU] += 1
            sf[S_LAST_FUNDING] = rate
            sf[S_PREM_ACC] = 0.0
            sf[S_PREM_N] = 0.0

        # Volatility: slow regime × hour-of-day profile × GARCH on the last return.
        h = prm[P_REG_PHI] * sf[S_H] + reg_sd * np.sqrt(1.0 - prm[P_REG_PHI] ** 2) * _normal(rng)
        sf[S_H] = h
        hour = (t // HOUR_MS) % 24
        season = 1.0 + prm[P_SEASON] * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
        level = np.exp(2.0 * h - 2.0 * reg_sd * reg_sd) * season * season
        r2 = min(sf[S_R_PREV] * sf[S_R_PREV], ret_cap2)
        sig2 = omega * level + prm[P_G_ALPHA] * r2 + prm[P_G_BETA] * sf[S_SIG2]
        sf[S_SIG2] = sig2
        sig = np.sqrt(sig2)
        sig_sub = sig / sqrt_sub
        activity = min(max(np.sqrt(sig / sig_bar), ACTIVITY_MIN), ACTIVITY_MAX)

        # Who opens: momentum over the last hour pulls toward longs in a rally; a rich
        # premium (longs pay) pushes the other way.
        ptr = si[I_RING]
        x_hour_ago = ring[(ptr - 60) % RING]
        mom = (sf[S_X] + sf[S_J] - x_hour_ago) / (sig_bar * np.sqrt(60.0))
        p_long = (
            0.5 + prm[P_LONG_BIAS] + prm[P_MOM_W] * np.tanh(0.5 * mom)
            - prm[P_FUND_W] * np.tanh(sf[S_PREM] / 0.0005)
        )
        p_long = min(max(p_long, 0.1), 0.9)

        # Premium follows the imbalance of open leveraged notional.
        tot = sf[S_LONG_USD] + sf[S_SHORT_USD]
        imb = (sf[S_LONG_USD] - sf[S_SHORT_USD]) / tot if tot > 0.0 else 0.0
        target = prm[P_INTEREST] + prm[P_PREM_K] * imb
        sf[S_PREM] += prm[P_PREM_THETA] * (target - sf[S_PREM]) + prm[P_PREM_SD] * _normal(rng)

        prev_last = sf[S_LAST]
        prev_mark = sf[S_MARK]
        f_hi = prev_last
        f_lo = prev_last
        k_hi = prev_mark
        k_lo = prev_mark
        vol_qty = 0.0
        index = prev_last
        mark = prev_mark
        last = prev_last
        lam_sub = prm[P_LAMBDA] * activity / SUBSTEPS
        opened = 0

        for s in range(SUBSTEPS):
            t_sub = t + s * SUB_MS
            pend = sf[S_PENDING] * prm[P_FLOW_IMPACT] / depth
            sf[S_PENDING] = 0.0
            sf[S_X] += sig_sub * _student_t4_unit(rng) + perm * pend
            sf[S_J] = sf[S_J] * prm[P_J_DECAY] + (1.0 - perm) * pend
            sf[S_PREM_EMA] += prm[P_PREM_EMA] * (sf[S_PREM] - sf[S_PREM_EMA])
            micro = prm[P_MICRO_SD] * _normal(rng)
            index = np.exp(sf[S_X] + sf[S_J])
            mark = index * (1.0 + sf[S_PREM_EMA])
            last = index * (1.0 + sf[S_PREM] + micro)
            f_hi = max(f_hi, last)
            f_lo = min(f_lo, last)
            k_hi = max(k_hi, mark)
            k_lo = min(k_lo, mark)

            # Liquidations and their cascade.
            for rnd in range(MAX_ROUNDS):
                t_ev = t_sub + rnd * ROUND_MS
                sold_usd = 0.0
                bought_usd = 0.0
                while si[I_HL] > 0 and -hl_k[0] >= mark:
                    cid = hl_i[0]
                    si[I_HL] = _heap_pop(hl_k, hl_i, si[I_HL])
                    if c_status[cid] != STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, STATUS_LIQUIDATED, t_ev, S_LONG_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    sold_usd += qty * c_lp[cid]
                    vol_qty += qty
                    _record_liquidation(cid, t_ev, mark, ev_ms, ev_id, ev_mark, si)
                while si[I_HS] > 0 and hs_k[0] <= mark:
                    cid = hs_i[0]
                    si[I_HS] = _heap_pop(hs_k, hs_i, si[I_HS])
                    if c_status[cid] != STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, STATUS_LIQUIDATED, t_ev, S_SHORT_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    bought_usd += qty * c_lp[cid]
                    vol_qty += qty
                    _record_liquidation(cid, t_ev, mark, ev_ms, ev_id, ev_mark, si)
                # Stops trigger on the last price and fill as market orders.
                while si[I_HTL] > 0 and -htl_k[0] >= last:
                    cid = htl_i[0]
                    si[I_HTL] = _heap_pop(htl_k, htl_i, si[I_HTL])
                    if c_status[cid] != STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, STATUS_STOPPED, t_ev, S_LONG_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    sold_usd += qty * last
                    vol_qty += qty
                while si[I_HTS] > 0 and hts_k[0] <= last:
                    cid = hts_i[0]
                    si[I_HTS] = _heap_pop(hts_k, hts_i, si[I_HTS])
                    if c_status[cid] != STATUS_OPEN:
                        continue
                    qty = _close_cohort(cid, STATUS_STOPPED, t_ev, S_SHORT_USD, c_status, c_end_ms, c_qty, c_entry,
                                        active, apos, si, sf)
                    bought_usd += qty * last
                    vol_qty += qty
                if sold_usd == 0.0 and bought_usd == 0.0:
                    break
                dlog = (bought_usd - sold_usd) / depth
                sf[S_X] += perm * dlog
                sf[S_J] += (1.0 - perm) * dlog
                index = np.exp(sf[S_X] + sf[S_J])
                mark = index * (1.0 + sf[S_PREM_EMA])
                last = index * (1.0 + sf[S_PREM] + micro)
                f_hi = max(f_hi, last)
                f_lo = min(f_lo, last)
                k_hi = max(k_hi, mark)
                k_lo = min(k_lo, mark)

            # New cohorts, at the last price.
            n_new = _poisson(rng, lam_sub)
            for _ in range(n_new):
                if opened >= max_opens:
                    break
                side = 0 if _uniform(rng) < p_long else 1
                li = _pick(rng, lev_cdf)
                zi = _pick(rng, size_cdf)
                if li >= n_lev:
                    li = n_lev - 1
                if zi >= n_size:
                    zi = n_size - 1
                lp = last * lev_factor[side, li, zi]
                # An exchange refuses an order that would be liquidated at once.
                if (side == 0 and mark <= lp) or (side == 1 and mark >= lp):
                    continue
                usd = prm[P_COH_USD] * np.exp(
                    prm[P_COH_SIG] * _normal(rng) - 0.5 * prm[P_COH_SIG] ** 2
                )
                qty = usd / last
                if _uniform(rng) < prm[P_SCALP_P]:
                    life = prm[P_SCALP_LIFE]
                else:
                    life = prm[P_SWING_LIFE]
                life *= (10.0 / lev_nominal[li]) ** prm[P_LIFE_LEV_EXP]
                life_ms = -np.log(_uniform(rng)) * life * MINUTE_MS
                open_ms = t_sub
                cid = si[I_N_COH]
                si[I_N_COH] = cid + 1
                c_side[cid] = side
                c_open_ms[cid] = open_ms
                c_end_ms[cid] = -1
                c_status[cid] = STATUS_OPEN
                c_entry[cid] = last
                c_lp[cid] = lp
                c_qty[cid] = qty
                c_lev_idx[cid] = li
                c_size_idx[cid] = zi
                n_act = si[I_N_ACT]
                active[n_act] = cid
                apos[cid] = n_act
                si[I_N_ACT] = n_act + 1
                c_stop[cid] = np.nan
                c_close_ms[cid] = open_ms + int(life_ms) + 1
                if _uniform(rng) < prm[P_STOP_P]:
                    q = prm[P_STOP_LO] + (prm[P_STOP_HI] - prm[P_STOP_LO]) * _uniform(rng)
                    stop = last + q * (lp - last)
                    c_stop[cid] = stop
                    if side == 0:
                        si[I_HTL] = _heap_push(htl_k, htl_i, si[I_HTL], -stop, cid)
                    else:
                        si[I_HTS] = _heap_push(hts_k, hts_i, si[I_HTS], stop, cid)
                if side == 0:
                    si[I_HL] = _heap_push(hl_k, hl_i, si[I_HL], -lp, cid)
                    sf[S_LONG_USD] += usd
                    sf[S_PENDING] += usd
                else:
                    si[I_HS] = _heap_push(hs_k, hs_i, si[I_HS], lp, cid)
                    sf[S_SHORT_USD] += usd
                    sf[S_PENDING] -= usd
                si[I_HC] = _heap_push(hc_k, hc_i, si[I_HC], float(c_close_ms[cid]), cid)
                sf[S_OI] += qty
                vol_qty += qty
                opened += 1

            # Voluntary closes due in this sub-step.
            t_next = float(t_sub + SUB_MS)
            while si[I_HC] > 0 and hc_k[0] < t_next:
                cid = hc_i[0]
                due = int(hc_k[0])
                si[I_HC] = _heap_pop(hc_k, hc_i, si[I_HC])
                if c_status[cid] != STATUS_OPEN:
                    continue
                c_status[cid] = STATUS_CLOSED
                c_end_ms[cid] = max(due, t_sub)
                _deactivate(cid, active, apos, si)
                qty = c_qty[cid]
                sf[S_OI] -= qty
                vol_qty += qty
                if c_side[cid] == 0:
                    sf[S_LONG_USD] -= qty * c_entry[cid]
                    sf[S_PENDING] -= qty * last
                else:
                    sf[S_SHORT_USD] -= qty * c_entry[cid]
                    sf[S_PENDING] += qty * last

        # Lazy deletion leaves closed cohorts in the heaps; keep them small.
        n_act = si[I_N_ACT]
        if si[I_HL] > 2 * n_act + 4096:
            si[I_HL] = _heap_compact(hl_k, hl_i, si[I_HL], c_status)
        if si[I_HS] > 2 * n_act + 4096:
            si[I_HS] = _heap_compact(hs_k, hs_i, si[I_HS], c_status)
        if si[I_HTL] > 2 * n_act + 4096:
            si[I_HTL] = _heap_compact(htl_k, htl_i, si[I_HTL], c_status)
        if si[I_HTS] > 2 * n_act + 4096:
            si[I_HTS] = _heap_compact(hts_k, hts_i, si[I_HTS], c_status)

        bg = prm[P_BG_TURN] * sf[S_OI] * (sig / sig_bar) * np.exp(0.5 * _normal(rng) - 0.125)
        out_fut[m, 0] = prev_last
        out_fut[m, 1] = f_hi
        out_fut[m, 2] = f_lo
        out_fut[m, 3] = last
        out_fut[m, 4] = vol_qty + bg
        out_mark[m, 0] = prev_mark
        out_mark[m, 1] = k_hi
        out_mark[m, 2] = k_lo
        out_mark[m, 3] = mark
        out_oi[m] = sf[S_OI]
        out_index[m] = index
        sf[S_LAST] = last
        sf[S_MARK] = mark

        xj = sf[S_X] + sf[S_J]
        sf[S_R_PREV] = xj - sf[S_PREV_XJ]
        sf[S_PREV_XJ] = xj
        ring[ptr % RING] = xj
        si[I_RING] = (ptr + 1) % RING
        sf[S_PREM_ACC] += sf[S_PREM]
        sf[S_PREM_N] += 1.0
        si[I_MINUTES] += 1

        # Truth snapshot of outstanding liquidation levels, stamped with the hour it
        # describes the state at (the end of this minute).
        t_end = t + MINUTE_MS
        if t_end % HOUR_MS == 0 and n_act > 0:
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
    return n_minutes
