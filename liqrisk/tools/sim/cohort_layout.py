"""Layout of the simulator's kernel state: time steps, and the slots of its flat arrays.

``liqrisk.tools.sim.cohort_kernels.simulate_minutes`` keeps one pair's whole state in
plain arrays (so it compiles once, runs without the GIL and saves to an ``.npz``):
float parameters ``prm[P_*]``, float state ``sf[S_*]``, integer state ``si[I_*]``,
and per-cohort arrays whose ``c_status`` holds a ``STATUS_*`` code. This module names
those slots, once, for the kernel and for the Python that fills and reads them
(``pair_market``, ``specs``, ``stream``). Times are UTC milliseconds.
"""

from __future__ import annotations

import numpy as np

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


def max_opens_per_minute(cohorts_per_minute: float) -> int:
    """Cap on the cohorts one minute opens at mean rate ``cohorts_per_minute``.

    At the busiest (activity ``ACTIVITY_MAX``) openings are Poisson with mean
    ``3 · rate``; the cap sits 8 standard deviations above that, so it never binds in
    practice, and never below ``MAX_OPENS_PER_MINUTE`` (so the default density keeps the
    cap, and the arrays' headroom, it always had).
    """
    peak = ACTIVITY_MAX * float(cohorts_per_minute)
    return max(MAX_OPENS_PER_MINUTE, int(np.ceil(peak + 8.0 * np.sqrt(peak) + 8.0)))
