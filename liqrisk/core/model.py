"""The liquidation model's per-candle rules, shared by the fast engine and the reference.

Given candles already aligned to what was known at each candle's close (see
``liqrisk.core.features``), this module decides, per candle t:

* ``seed_usd[t, side]``: new leveraged notional opened during t (quote currency, "USD")
  on each side (0 = long, 1 = short). With OI it is ``max(ΔOI_t, 0)`` plus the churned
  share ``turnover_per_day · timeframe / 1 day`` of the OI at t's open; without OI,
  ``volume_proxy_share × volume × close``. Times ``liquidatable_share``.
* ``long_share[t]``: the long side's share of that notional, from taker buy volume if
  given, else the candle's body and close location, tilted by funding.
* ``close_frac[t]``: share of all outstanding positions closed during t when OI falls,
  ``−ΔOI_t / OI_open`` plus the churned share, clipped to [0, 1 − 1e-12] (1 would make the rescaling singular;
  1e-12 of a position is nothing).
* ``intra_usd[t, side]``: positions opened *and* liquidated within t (see
  ``intra_candle_usd``). They never enter the book: the engines count them as seeded and
  consumed at t.

and per level (t, side, tier k, entry point j) its price ``entry[t, j] · factor[side, k]``
(exact Binance liquidation price, see ``liqrisk.core.liquidation``) and its log-price bucket.
Level index within a candle: ``l = side·(K·3) + k·3 + j`` with j = close, high, low.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liqrisk.config import LiqConfig
from liqrisk.core import _numba, kernels
from liqrisk.core.liquidation import liquidation_factor
from liqrisk.core.tiers import TierTable
from liqrisk.errors import DataError

MAX_CLOSE_FRAC = 1.0 - 1e-12
DAY_NS = 86_400 * 10**9
ENTRY_POINTS = ("close", "high", "low")
SIDES = ("long", "short")
#: A price grid wider than this many buckets means garbage prices or a tiny bucket_width.
MAX_BUCKETS = 2_000_000


@dataclass
class AlignedCandles:
    """Per-candle arrays, all length n, each value known at the candle's close.

    Prices in quote currency, volume in base units, OI in quote currency, funding as a
    fraction per 8h. NaN means missing.
    """

    dates_ns: np.ndarray  # int64, candle open times (UTC ns)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    oi_open_usd: np.ndarray  # OI known at the candle's open
    oi_close_usd: np.ndarray  # OI known at the candle's close
    funding: np.ndarray
    consume_low: np.ndarray  # low used to consume long levels (mark low when given)
    consume_high: np.ndarray
    taker_buy_share: np.ndarray  # taker buy volume / volume, NaN if not given
    timeframe_ns: int = 0  # candle length; 0 = unknown (no same-candle term)
    oi_high_usd: np.ndarray | None = None  # OI's high within the candle (quote), known at its close; NaN = unknown
    oi_low_usd: np.ndarray | None = None


@dataclass
class ModelInputs:
    """Everything the state machine needs. Shapes: n candles, L levels per candle, G decay groups."""

    dates_ns: np.ndarray  # int64 [n]
    ref_price: np.ndarray  # float64 [n], last valid close (clusters are measured from it)
    entry: np.ndarray  # float64 [n, 3]: close, high, low
    seed_usd: np.ndarray  # float64 [n, 2]
    intra_usd: np.ndarray  # float64 [n, 2]: opened and liquidated within the candle
    long_share: np.ndarray  # float64 [n]
    close_frac: np.ndarray  # float64 [n]
    cons_low: np.ndarray  # float64 [n], +inf where the candle cannot consume
    cons_high: np.ndarray  # float64 [n], -inf where the candle cannot consume
    factor: np.ndarray  # float64 [2, K]: liquidation price / entry price
    effective_leverage: np.ndarray  # float64 [K] after clamping to the bracket's max
    tier_weight: np.ndarray  # float64 [K], sums to 1
    entry_weight: np.ndarray  # float64 [3], sums to 1
    tier_group: np.ndarray  # int64 [K]: decay group of each tier
    group_half_life_ns: np.ndarray  # float64 [G], inf = no decay
    window_ns: np.ndarray  # int64 [W]
    level_bucket: np.ndarray  # int32 [n, L], relative to bucket_origin; -1 where the level is void
    ref_bucket: np.ndarray  # int32 [n], relative; -1 where ref_price is NaN
    bucket_origin: int  # absolute index of relative bucket 0
    n_buckets: int
    bucket_width: float
    oi_fallback: np.ndarray  # int8 [n]
    funding_fallback: np.ndarray  # int8 [n]
    cluster_threshold: float

    @property
    def n(self) -> int:
        return len(self.dates_ns)

    @property
    def level_price(self) -> np.ndarray:
        """float64 [n, L]: ``entry[t, j] · factor[side, k]``. Built on demand; the fast
        engine computes the same products inside its kernels instead of storing them."""
        n = len(self.entry)
        return (self.entry[:, None, None, :] * self.factor[None, :, :, None]).reshape(n, -1)

    @property
    def n_tiers(self) -> int:
        return len(self.tier_weight)

    @property
    def levels_per_candle(self) -> int:
        return 2 * self.n_tiers * 3

    def level_mass(self, t: int, level: int) -> float:
        """USD of one level at seeding: the side's new USD × tier share × entry-point share."""
        side, k, j = self.split_level(level)
        return self.seed_usd[t, side] * (self.tier_weight[k] * self.entry_weight[j])

    def split_level(self, level: int) -> tuple[int, int, int]:
        per_side = self.n_tiers * 3
        return level // per_side, (level % per_side) // 3, level % 3

    def bucket_center(self, rel_bucket) -> np.ndarray:
        """Geometric centre (price) of a relative bucket index."""
        step = math.log1p(self.bucket_width)
        return np.exp((np.asarray(rel_bucket, dtype=np.float64) + self.bucket_origin + 0.5) * step)

    def expiry_index(self) -> np.ndarray:
        """int64 [W, n]: first candle index at which a level seeded at s is out of window w.

        Window w covers candles with date in (date_t − window, date_t], so a level seeded
        at s expires at the first t with date_t − date_s >= window.
        """
        return np.stack([np.searchsorted(self.dates_ns, self.dates_ns + w, side="left") for w in self.window_ns])

    def log_scales(self) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative log survival per decay group, float64 [G, n] each.

        ``post[g, t]``: log of (closing survival up to and including t) × (decay from
        candle 0 to t). ``pre[g, t]`` is the same before t's closing (after its decay).
        A level seeded at s has, at the end of t, ``mass·exp(post[g,t] − post[g,s])``.
        """
        log_keep = np.cumsum(np.log1p(-self.close_frac))
        prev = np.concatenate(([0.0], log_keep[:-1]))
        elapsed = (self.dates_ns - self.dates_ns[0]).astype(np.float64) if self.n else np.zeros(0)
        post = np.empty((len(self.group_half_life_ns), self.n))
        pre = np.empty_like(post)
        for g, hl in enumerate(self.group_half_life_ns):
            decay = -math.log(2.0) * elapsed / hl if math.isfinite(hl) else np.zeros(self.n)
            post[g] = log_keep + decay
            pre[g] = prev + decay
        return post, pre


def long_share(candles: AlignedCandles, cfg: LiqConfig) -> tuple[np.ndarray, np.ndarray]:
    """Long side's share of new notional per candle, and the funding-fallback flag.

    Taker buy share when given (takers are the aggressive, mostly leveraged side).
    Otherwise ``0.5 + 0.5·split_sensitivity·tilt`` with tilt the mean of the close
    location value ``(2c − h − l)/(h − l)`` and the body ``(c − o)/(h − l)``, both in
    [−1, 1]. Funding above ``funding_neutral`` means longs pay, so longs are crowded:
    add ``funding_weight·clip((rate − neutral)/scale, −1, 1)``. Clipped to [0, 1].
    """
    o, h, lo, c = candles.open, candles.high, candles.low, candles.close
    rng = h - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        clv = np.where(rng > 0, (2.0 * c - h - lo) / rng, 0.0)
        body = np.where(rng > 0, (c - o) / rng, 0.0)
    tilt = np.nan_to_num(0.5 * (clv + body), nan=0.0)
    share = 0.5 + 0.5 * cfg.split_sensitivity * np.clip(tilt, -1.0, 1.0)
    taker = candles.taker_buy_share
    share = np.where(np.isfinite(taker), np.clip(taker, 0.0, 1.0), share)
    funding_ok = np.isfinite(candles.funding)
    funding_tilt = np.clip((candles.funding - cfg.funding_neutral) / cfg.funding_scale, -1.0, 1.0)
    share = share + np.where(funding_ok, cfg.funding_weight * funding_tilt, 0.0)
    return np.clip(share, 0.0, 1.0), (~funding_ok).astype(np.int8)


def oi_flow(candles: AlignedCandles, cfg: LiqConfig, valid: np.ndarray):
    """New notional (quote) and closing fraction per candle, plus the OI-fallback flag.

    OI counts as known at t when both the open and the close values are finite and > 0
    (zero OI is a broken feed, not an empty market). Elsewhere the volume proxy seeds
    and nothing is closed: the window cut-off bounds how long such levels live.
    """
    oi0, oi1 = candles.oi_open_usd, candles.oi_close_usd
    have_oi = np.isfinite(oi0) & np.isfinite(oi1) & (oi0 > 0) & (oi1 > 0)
    delta = np.where(have_oi, oi1 - oi0, 0.0)
    volume_usd = np.where(np.isfinite(candles.volume) & (candles.volume > 0), candles.volume * candles.close, 0.0)
    proxy = cfg.volume_proxy_share * np.nan_to_num(volume_usd, nan=0.0)
    # Turnover: positions closed and re-opened during t leave OI unchanged, but move
    # their liquidation levels to t's prices.
    churn = min(1.0, cfg.turnover_per_day * candles.timeframe_ns / DAY_NS) if candles.timeframe_ns > 0 else 0.0
    new_usd = np.where(have_oi, np.maximum(delta, 0.0) + churn * np.where(have_oi, oi0, 0.0), proxy)
    with np.errstate(invalid="ignore", divide="ignore"):
        close_frac = np.where(have_oi & (delta < 0), -delta / np.where(have_oi, oi0, 1.0), 0.0)
    close_frac = np.clip(np.where(have_oi, close_frac + churn, 0.0), 0.0, MAX_CLOSE_FRAC)
    new_usd = np.where(valid, new_usd, 0.0)
    return new_usd, close_frac, (~have_oi).astype(np.int8)


def oi_range(candles: AlignedCandles) -> np.ndarray:
    """OI high − low within each candle (quote), NaN where unknown."""
    if candles.oi_high_usd is None or candles.oi_low_usd is None:
        return np.full(len(candles.open), np.nan)
    return np.clip(candles.oi_high_usd - candles.oi_low_usd, 0.0, None)


def liquidated_share(move: np.ndarray, distance: np.ndarray, weights: np.ndarray, spread: float) -> np.ndarray:
    """Share of a side's positions liquidated by an adverse move from their entry.

    :param move: adverse move per candle as a fraction of the entry price (>= 0).
    :param distance: float [K], each tier's liquidation distance (fraction of entry).
    :param weights: float [K], the tiers' shares (summing to 1).
    :param spread: each tier's distance is spread log-uniformly over
        ``[d_k / spread, d_k · spread]``; 1 means exactly ``d_k``.
    :returns: float in [0, 1] per candle, non-decreasing in ``move``.
    """
    shape = np.shape(move)
    move = np.asarray(move, dtype=np.float64).reshape(-1)
    weights = np.asarray(weights, dtype=np.float64)
    if spread > 1.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            log_move = np.log(move)  # -inf at 0: nothing liquidated
        width = 2.0 * math.log(spread)
        start = np.array([math.log(d) - math.log(spread) for d in distance])
        # All tiers in one array expression (a live step calls this on one candle, where
        # each NumPy call costs more than its arithmetic), summed tier by tier as before.
        terms = weights[:, None] * np.clip((log_move[None, :] - start[:, None]) / width, 0.0, 1.0)
    else:
        terms = weights[:, None] * (move[None, :] >= np.asarray(distance, dtype=np.float64)[:, None])
    out = np.zeros(move.shape)
    for term in terms:
        out += term
    out[np.isnan(out)] = 0.0
    return out.reshape(shape)


def intra_candle_usd(candles: AlignedCandles, cfg: LiqConfig, factor: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """USD opened and liquidated within each candle, float64 [n, 2] (long, short).

    ``intra_turnover · (timeframe / 1 day)`` of the OI at the candle's open, plus
    ``intra_oi_range · (OI_high − OI_low)`` when OI's range within the candle is known
    (capped at the OI at the open), is re-opened at the open, half long and half short
    (every contract has both sides; which one is
    leveraged is unknown within the candle), times ``liquidatable_share``. Longs lose
    ``(open − low) / open`` before the close, shorts ``(high − open) / open`` (mark wicks
    when given); ``liquidated_share`` turns that move into the share liquidated, with the
    tiers' exact Binance distances ``1 − factor[0, k]`` and ``factor[1, k] − 1``.
    A share ``intra_path`` of that notional is instead opened at the candle's extreme
    against its side (shorts at the low, longs at the high); its adverse move is the
    retrace to the close, ``(close − low) / low`` (shorts) and ``(high − close) / high``
    (longs), which the candle proves happened after that extreme.
    Zero where OI at the open is unknown (the volume proxy has no OI level) or the
    candle is broken. Uses only candle t's own values.
    """
    n = len(candles.open)
    out = np.zeros((n, 2))
    if (cfg.intra_turnover <= 0.0 and cfg.intra_oi_range <= 0.0) or candles.timeframe_ns <= 0 or n == 0:
        return out
    per_candle = min(1.0, cfg.intra_turnover * candles.timeframe_ns / DAY_NS)
    oi0 = candles.oi_open_usd
    ok = valid & np.isfinite(oi0) & (oi0 > 0)
    reopened = per_candle * np.where(ok, oi0, 0.0)
    if cfg.intra_oi_range > 0.0:
        # OI's swing within t is notional opened and closed during t, on top of the base rate.
        extra = cfg.intra_oi_range * np.nan_to_num(oi_range(candles), nan=0.0)
        reopened = np.minimum(reopened + extra, np.where(ok, oi0, 0.0))
    opened = np.where(ok, cfg.liquidatable_share * 0.5 * reopened, 0.0)
    o = np.where(ok, candles.open, 1.0)
    with np.errstate(invalid="ignore"):
        down = np.clip((o - candles.consume_low) / o, 0.0, None)
        up = np.clip((candles.consume_high - o) / o, 0.0, None)
    weights = np.asarray(cfg.normalized_leverage_weights)
    out[:, 0] = opened * liquidated_share(np.where(ok, down, 0.0), 1.0 - factor[0], weights, cfg.intra_spread)
    out[:, 1] = opened * liquidated_share(np.where(ok, up, 0.0), factor[1] - 1.0, weights, cfg.intra_spread)
    p = cfg.intra_path
    if p > 0.0:
        # Entered at the extreme against the side, liquidated by the retrace to the close.
        c = np.where(ok, candles.close, 1.0)
        hi = np.where(ok, candles.consume_high, 1.0)
        lo = np.where(ok, candles.consume_low, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            back_long = np.clip((hi - c) / hi, 0.0, None)
            back_short = np.clip((c - lo) / lo, 0.0, None)
        out[:, 0] = (1.0 - p) * out[:, 0] + p * opened * liquidated_share(
            np.where(ok, back_long, 0.0), 1.0 - factor[0], weights, cfg.intra_spread)
        out[:, 1] = (1.0 - p) * out[:, 1] + p * opened * liquidated_share(
            np.where(ok, back_short, 0.0), factor[1] - 1.0, weights, cfg.intra_spread)
    return out


def build_inputs(candles: AlignedCandles, cfg: LiqConfig, table: TierTable) -> ModelInputs:
    """Apply the model rules to aligned candles."""
    _numba.load_runtime()  # before the first kernel: numba's registries, built with the GC paused
    o, h, low, c = candles.open, candles.high, candles.low, candles.close
    finite = np.isfinite(o) & np.isfinite(h) & np.isfinite(low) & np.isfinite(c)
    valid = finite & (o > 0) & (h > 0) & (low > 0) & (c > 0)
    # A high below the body (or low above it) is a broken candle; widen rather than drop it.
    hi = np.where(valid, np.fmax(h, np.fmax(o, c)), np.nan)
    lo = np.where(valid, np.fmin(low, np.fmin(o, c)), np.nan)
    cl = np.where(valid, c, np.nan)
    fixed = AlignedCandles(**{**candles.__dict__, "high": hi, "low": lo, "close": cl})

    share, funding_fallback = long_share(fixed, cfg)
    new_usd, close_frac, oi_fallback = oi_flow(fixed, cfg, valid)
    close_frac = np.where(valid, close_frac, 0.0)
    new_usd = new_usd * cfg.liquidatable_share
    seed_usd = np.stack([new_usd * share, new_usd * (1.0 - share)], axis=1)

    cons_low = np.where(valid & np.isfinite(candles.consume_low), candles.consume_low, lo)
    cons_high = np.where(valid & np.isfinite(candles.consume_high), candles.consume_high, hi)
    cons_low = np.where(np.isfinite(cons_low), cons_low, np.inf)
    cons_high = np.where(np.isfinite(cons_high), cons_high, -np.inf)

    n_tiers = len(cfg.leverage_tiers)
    factor = np.empty((2, n_tiers))
    eff_lev = np.empty(n_tiers)
    for side_i, side in enumerate(SIDES):
        for k, lev in enumerate(cfg.leverage_tiers):
            factor[side_i, k], eff_lev[k] = liquidation_factor(
                lev, side=side, table=table, notional=cfg.position_notional_usd
            )
    intra_usd = intra_candle_usd(
        AlignedCandles(**{**fixed.__dict__, "consume_low": cons_low, "consume_high": cons_high}), cfg, factor, valid,
    )
    hl = np.asarray(cfg.half_life_ns, dtype=np.float64)
    groups, tier_group = np.unique(hl, return_inverse=True)

    entry = np.ascontiguousarray(np.stack([cl, hi, lo], axis=1))
    ref_price = _ffill(cl)
    step = math.log1p(cfg.bucket_width)
    tier_w = np.asarray(cfg.normalized_leverage_weights)
    entry_w = np.asarray(cfg.normalized_entry_weights)
    level_share = np.tile(np.repeat(tier_w, 3) * np.tile(entry_w, n_tiers), 2)
    level_bucket, b_min, b_max = kernels.build_levels_nb(
        entry, np.ascontiguousarray(factor), np.ascontiguousarray(seed_usd), level_share, 1.0 / step
    )
    any_live = b_min <= b_max
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_abs = np.floor(np.log(ref_price) / step)
    ref_ok = np.isfinite(ref_abs)
    lows = [int(b_min)] if any_live else []
    highs = [int(b_max)] if any_live else []
    if ref_ok.any():
        lows.append(int(ref_abs[ref_ok].min()))
        highs.append(int(ref_abs[ref_ok].max()))
    origin, top = (min(lows), max(highs)) if lows else (0, 0)
    n_buckets = top - origin + 1
    if n_buckets > MAX_BUCKETS:
        raise DataError(
            f"prices span {math.exp(origin * step):.3g} to {math.exp(top * step):.3g}, which needs "
            f"{n_buckets} buckets at bucket_width={cfg.bucket_width}; check the price columns for "
            "garbage values, or raise bucket_width."
        )
    kernels.rebase_buckets_nb(level_bucket, origin)
    ref_bucket = np.where(ref_ok, np.nan_to_num(ref_abs) - origin, -1).astype(np.int32)

    return ModelInputs(
        dates_ns=candles.dates_ns,
        ref_price=ref_price,
        entry=entry,
        seed_usd=seed_usd,
        intra_usd=intra_usd,
        long_share=share,
        close_frac=close_frac,
        cons_low=cons_low,
        cons_high=cons_high,
        factor=factor,
        effective_leverage=eff_lev,
        tier_weight=tier_w,
        entry_weight=entry_w,
        tier_group=tier_group.astype(np.int64),
        group_half_life_ns=groups,
        window_ns=np.asarray(cfg.window_ns, dtype=np.int64),
        level_bucket=level_bucket,
        ref_bucket=ref_bucket,
        bucket_origin=origin,
        n_buckets=n_buckets,
        bucket_width=cfg.bucket_width,
        oi_fallback=oi_fallback,
        funding_fallback=funding_fallback,
        cluster_threshold=cfg.cluster_threshold,
    )


def _ffill(values: np.ndarray) -> np.ndarray:
    idx = np.where(np.isfinite(values), np.arange(len(values)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.where(idx >= 0, values[np.maximum(idx, 0)], np.nan)
    return out
