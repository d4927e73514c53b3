"""Incremental features for a bot: only appended candles are computed.

freqtrade calls ``populate_indicators`` with its whole dataframe (e.g. 3,000 candles) on
every new candle. Recomputing everything costs O(candles); ``LiveFeatures.update``
keeps the engine's state and steps only the candles appended since the last call, with
the same kernel code as the batch engine (``kernels_engine.advance_nb``).

Every call checks the frame as ``compute_features`` does (``candle_arrays``,
``check_timeframe``) and aligns OI, funding and mark over the whole frame (vectorised
as-of look-ups, cheap next to the engine). It falls back to a full run whenever the
past is not what it saw:
- a candle it processed changed (OHLCV or ``taker_buy_volume``);
- an aligned input of any seen candle changed: an OI, funding or mark row that arrived
  late or was revised, at any depth. Only when an auxiliary frame was trimmed at the
  front (a bot's rolling frame) are the candles whose look-back now starts before that
  frame's first row exempt: they lost history, not a revision;
- there is a gap at the front;
- a price left the bucket grid;
- the buffer grew to several times the frame.

So the result always equals ``compute_features`` on the candles it has seen. Rows
with at least ``required_startup_candles`` of history before them are exactly what
``compute_features`` gives on the same frame.
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

import numpy as np
import pandas as pd

from liqrisk.config import LiqConfig
from liqrisk.core import kernels
from liqrisk.core.align import align, candle_arrays, check_timeframe, check_windows, model_inputs
from liqrisk.core.assemble import feature_matrix, features_frame
from liqrisk.core.engine import crossings
from liqrisk.core.kernels_engine import EngineInputs, RawResult, advance_nb, new_scratch, new_state
from liqrisk.core.model import AlignedCandles, ModelInputs, build_inputs
from liqrisk.core.tiers import tier_table

NEVER = np.iinfo(np.int32).max
OHLCV_VALUES = ("open", "high", "low", "close", "volume")
#: Aligned per-candle inputs besides OHLCV that a seen candle must keep (from which
#: auxiliary frame, or None for the candles' own ``taker_buy_volume``).
ALIGNED_INPUTS = (("oi_open_usd", "open_interest"), ("oi_close_usd", "open_interest"),
                  ("oi_high_usd", "open_interest"), ("oi_low_usd", "open_interest"), ("funding", "funding_rate"),
                  ("consume_low", "mark"), ("consume_high", "mark"), ("taker_buy_share", None))
#: Extra buckets on each side of the grid, so new prices rarely force a rebuild (±50% in price).
GRID_MARGIN_PRICE = 0.5


class LiveFeatures:
    """``compute_features`` for a frame that grows at the end, stepped incrementally.

    >>> live = LiveFeatures(pair="BTC/USDT:USDT", timeframe="5m")
    >>> feats = live.update(dataframe, open_interest=oi, funding_rate=funding)  # each candle

    Per-candle arrays live in buffers with spare capacity (doubled when full), so a step
    writes only its new rows. Rows past the used ones are inert to the kernels: void
    buckets, ``NEVER`` expiry and crossing.
    """

    # (attribute path, time axis, fill) of every per-candle buffer.
    _BUFFERS = (
        ("inputs.dates_ns", 0, 0), ("inputs.ref_price", 0, np.nan), ("inputs.entry", 0, np.nan),
        ("inputs.seed_usd", 0, 0.0), ("inputs.intra_usd", 0, 0.0), ("inputs.long_share", 0, np.nan), ("inputs.close_frac", 0, 0.0),
        ("inputs.cons_low", 0, np.inf), ("inputs.cons_high", 0, -np.inf), ("inputs.level_bucket", 0, -1),
        ("inputs.ref_bucket", 0, -1), ("inputs.oi_fallback", 0, 0), ("inputs.funding_fallback", 0, 0),
        ("ohlcv", 0, np.nan), ("log_keep", 0, 0.0), ("cross", 0, NEVER), ("matrix", 0, np.nan),
        ("post", 1, 0.0), ("pre", 1, 0.0), ("expiry", 1, NEVER), ("unit", 0, 0.0), ("aligned", 0, np.nan),
        ("raw.out", 3, np.nan), ("raw.conf", 2, np.nan), ("raw.ledger", 2, 0.0), ("raw.seeded", 0, 0.0),
    )

    def __init__(self, *, pair: str, timeframe: str = "5m", config=None, tiers=None) -> None:
        self.pair = pair
        self.timeframe = timeframe
        self.config = LiqConfig.from_mapping(config)
        check_windows(self.config, timeframe, pair)  # an unknown timeframe or one-candle windows fail here
        # Resolved once: the lookup reads a JSON file, and every step needs the table.
        self.tiers = tier_table(pair, tiers_path=self.config.tiers_path, tiers=tiers)
        self.full_runs = 0  # how often it fell back to a full run (tests and logs read it)
        self.steps = 0
        self._inputs: ModelInputs | None = None
        self._n = 0  # candles held
        self._aux_first: dict[str, int] = {}  # first row date of each auxiliary frame at the last alignment

    # ------------------------------------------------------------------------------------
    def update(self, ohlcv: pd.DataFrame, *, open_interest=None, funding_rate=None, mark=None) -> pd.DataFrame:
        """Features for every row of ``ohlcv`` (same index), stepping only new candles."""
        aux = {"open_interest": open_interest, "funding_rate": funding_rate, "mark": mark}
        dates, cols = candle_arrays(ohlcv)  # the same checks as compute_features
        check_timeframe(dates, self.timeframe)
        values = np.column_stack([cols[c] for c in OHLCV_VALUES]) if len(dates) else np.zeros((0, 5))
        info: dict = {}
        candles, have_oi, have_funding = align(dates, cols, cfg=self.config, timeframe=self.timeframe,
                                               pair=self.pair, info=info, **aux)
        aligned = _aligned_matrix(candles)
        first_new = self._first_new_row(values, dates)
        if first_new is not None and not self._same_aligned(aligned, dates, first_new, info):
            first_new = None  # a late or revised OI, funding or mark row changed a seen candle
        if first_new is None:
            self._full_run(candles, values, aligned, have_oi=have_oi, have_funding=have_funding)
        elif first_new < len(dates):
            if not self._step(candles, values, aligned, first_new):
                self._full_run(candles, values, aligned, have_oi=have_oi, have_funding=have_funding)
        self._aux_first = {k: first for k, (first, _) in info.items()}
        start = self._n - len(dates)
        return features_frame(self._matrix[start:self._n], ohlcv.index, self.config.windows)

    # ------------------------------------------------------------------------------------
    def _first_new_row(self, values: np.ndarray, dates: np.ndarray) -> int | None:
        """Index in ``ohlcv`` of the first unseen candle, or None if a full run is needed."""
        if self._inputs is None or len(dates) == 0:
            return None
        seen = self._inputs.dates_ns[:self._n]
        start = int(np.searchsorted(seen, dates[0]))
        if start >= len(seen) or seen[start] != dates[0]:
            return None  # the frame starts before or between what we have seen
        overlap = len(seen) - start
        if overlap > len(dates) or not np.array_equal(seen[start:], dates[:overlap]):
            return None
        if not np.array_equal(values[:overlap], self._ohlcv[start:self._n], equal_nan=True):
            return None  # a processed candle changed
        if self._n > 4 * max(len(dates), 1):
            return None  # keep the buffers bounded: rebuild on the current frame
        return overlap

    def _same_aligned(self, aligned: np.ndarray, dates: np.ndarray, overlap: int, info: dict) -> bool:
        """Whether the seen candles of the frame (its first ``overlap`` rows) still align
        to the inputs they were computed with. A frame whose first row moved later (a
        rolling frame) only exempts the candles that now look back past that row."""
        old = self._aligned[self._n - overlap:self._n]
        differs = ~((aligned[:overlap] == old) | (np.isnan(aligned[:overlap]) & np.isnan(old)))
        for f, (_, frame) in enumerate(ALIGNED_INPUTS):
            rows = np.flatnonzero(differs[:, f])
            if not len(rows):
                continue
            first, determined_from = info.get(frame, (None, None))
            trimmed = first is not None and frame in self._aux_first and first > self._aux_first[frame]
            if not trimmed or dates[rows[-1]] >= determined_from:
                return False
        return True

    def _full_run(self, candles: AlignedCandles, values: np.ndarray, aligned: np.ndarray, *, have_oi: bool,
                  have_funding: bool) -> None:
        self.full_runs += 1
        cfg = self.config
        inputs = model_inputs(candles, cfg, self.tiers, pair=self.pair, have_oi=have_oi, have_funding=have_funding)
        margin = int(math.ceil(math.log1p(GRID_MARGIN_PRICE) / math.log1p(cfg.bucket_width)))
        inputs.level_bucket = np.where(inputs.level_bucket >= 0, inputs.level_bucket + margin, -1).astype(np.int32)
        inputs.ref_bucket = np.where(inputs.ref_bucket >= 0, inputs.ref_bucket + margin, -1).astype(np.int32)
        inputs.bucket_origin -= margin
        inputs.n_buckets += 2 * margin
        n = inputs.n
        self._inputs = inputs
        self._n = n
        self._ohlcv = values
        self._aligned = aligned
        expiry = inputs.expiry_index()
        self._expiry = np.where(expiry >= n, NEVER, expiry).astype(np.int64)
        cross = crossings(inputs, np.minimum(expiry.max(axis=0), n) if n else np.zeros(0, np.int64))
        self._cross = np.where(cross >= n, NEVER, cross).astype(np.int32)
        self._log_keep = np.cumsum(np.log1p(-inputs.close_frac))
        self._post, self._pre = inputs.log_scales()
        self._tables = kernels.level_tables_nb(inputs.tier_weight, inputs.entry_weight, inputs.tier_group)
        self._state = new_state(len(inputs.window_ns), len(inputs.group_half_life_ns), inputs.n_buckets, n)
        self._scratch = new_scratch(len(inputs.window_ns), len(inputs.group_half_life_ns), inputs.n_buckets)
        n_win = len(inputs.window_ns)
        self._raw = RawResult(out=np.full((n_win, 2, kernels.N_SLOTS, n), np.nan), conf=np.full((2, 2, n), np.nan),
                              ledger=np.zeros((n_win, 3, n)), seeded=np.zeros(n))
        self._advance(0, n, s_from=0)
        self._matrix = feature_matrix(inputs, self._raw, cfg.windows)
        self._reserve(2 * n + 64)

    # Buffers ------------------------------------------------------------------------------
    def _get(self, path: str) -> np.ndarray:
        if path == "unit":
            return self._state.unit
        owner, _, name = path.rpartition(".")
        obj = {"": self, "inputs": self._inputs, "raw": self._raw}[owner]
        return getattr(obj, name if owner else "_" + name)

    def _set(self, path: str, value: np.ndarray) -> None:
        if path == "unit":
            self._state = self._state._replace(unit=value)
            return
        owner, _, name = path.rpartition(".")
        if owner == "raw":
            self._raw = self._raw._replace(**{name: value})
        elif owner == "inputs":
            setattr(self._inputs, name, value)
        else:
            setattr(self, "_" + name, value)

    def _reserve(self, capacity: int) -> None:
        """Give every buffer room for ``capacity`` candles (used rows copied, the rest filled)."""
        for path, axis, fill in self._BUFFERS:
            arr = self._get(path)
            if arr.shape[axis] >= capacity:
                continue
            shape = list(arr.shape)
            shape[axis] = capacity
            grown = np.full(shape, fill, dtype=arr.dtype)
            index = [slice(None)] * arr.ndim
            index[axis] = slice(0, arr.shape[axis])
            grown[tuple(index)] = arr
            self._set(path, grown)

    def _advance(self, t_from: int, t_to: int, *, s_from: int) -> None:
        inp = self._inputs
        ev = kernels.consumption_events_nb(inp.level_bucket, self._cross, 0, t_from, t_to, s_from)
        inputs = EngineInputs(inp.ref_bucket, inp.level_bucket, inp.seed_usd, inp.intra_usd, *self._tables,
                              self._cross, self._expiry, self._post, self._pre,
                              cluster_threshold=inp.cluster_threshold, offset=0)
        advance_nb(self._state, inputs, t_from, t_to, ev, self._raw, self._scratch, True)

    def _step(self, candles: AlignedCandles, values: np.ndarray, aligned: np.ndarray, first_new: int) -> bool:
        """Append rows ``first_new:`` of the frame; False if a full run is needed instead."""
        old = self._inputs
        n0 = self._n
        # Rebuild one seen candle with the new ones: the model rules must give it the
        # inputs it had (its aligned inputs were compared already).
        lo = max(first_new - 1, 0)
        new = build_inputs(_rows_from(candles, lo), self.config, self.tiers)
        if lo < first_new:
            j = n0 - 1
            same = (np.array_equal(new.seed_usd[0], old.seed_usd[j]) and new.close_frac[0] == old.close_frac[j]
                    and np.array_equal(new.intra_usd[0], old.intra_usd[j])
                    and np.array_equal(new.entry[0], old.entry[j], equal_nan=True))
            if not same:
                return False
            new = _tail(new, 1)
        shift = new.bucket_origin - old.bucket_origin
        live = new.level_bucket >= 0
        buckets = np.where(live, new.level_bucket + shift, -1)
        ref_b = np.where(new.ref_bucket >= 0, new.ref_bucket + shift, -1)
        if np.any(buckets[live] >= old.n_buckets) or np.any(buckets[live] < 0) or np.any(ref_b >= old.n_buckets):
            return False
        k_new = new.n
        n = n0 + k_new
        if n > old.dates_ns.shape[0]:
            self._reserve(2 * n)
        rows = slice(n0, n)
        # NaN closes at the front of the slice have no ref price of their own: carry ours.
        old.ref_price[rows] = np.where(np.isfinite(new.ref_price), new.ref_price, old.ref_price[n0 - 1])
        old.ref_bucket[rows] = np.where(np.isfinite(new.ref_price), ref_b, old.ref_bucket[n0 - 1])
        for name in _PER_CANDLE_INPUTS:
            if name not in _REBASED_INPUTS:
                getattr(old, name)[rows] = getattr(new, name)
        old.level_bucket[rows] = buckets
        self._ohlcv[rows] = values[first_new:]
        self._aligned[rows] = aligned[first_new:]

        # Cumulative log survival continues from the last seen candle.
        log_keep = self._log_keep[n0 - 1] + np.cumsum(np.log1p(-new.close_frac))
        prev = np.concatenate(([self._log_keep[n0 - 1]], log_keep[:-1]))
        self._log_keep[rows] = log_keep
        elapsed = (new.dates_ns - old.dates_ns[0]).astype(np.float64)
        for g, hl in enumerate(old.group_half_life_ns):
            decay = -math.log(2.0) * elapsed / hl if math.isfinite(hl) else 0.0
            self._post[g, rows], self._pre[g, rows] = log_keep + decay, prev + decay

        # Windows: seeds whose window the new candles pass now expire there.
        dates_used = old.dates_ns[:n]
        for w, width in enumerate(old.window_ns):
            pending = np.flatnonzero(self._expiry[w, :n] == NEVER)
            when = np.searchsorted(dates_used, dates_used[pending] + width, side="left")
            self._expiry[w, pending] = np.where(when < n, when, NEVER)
        self._n = n

        exp_ptr = self._state.exp_ptr
        oldest = int(exp_ptr.min()) if exp_ptr.size else 0  # no window holds seeds before this
        for t in range(n0, n):
            kernels.mark_crossings_nb(old.entry, old.factor, old.level_bucket, old.cons_low, old.cons_high,
                                      self._cross, NEVER, oldest, t)
            self._advance(t, t + 1, s_from=oldest)
        self._matrix[rows] = feature_matrix(old, self._raw, self.config.windows, rows)
        self.steps += 1
        return True


def _aligned_matrix(candles: AlignedCandles) -> np.ndarray:
    """float64 [n, len(ALIGNED_INPUTS)]: the aligned inputs a seen candle must keep."""
    n = len(candles.dates_ns)
    cols = [getattr(candles, name) for name, _ in ALIGNED_INPUTS]
    return np.column_stack([np.full(n, np.nan) if c is None else c for c in cols]) if n else np.zeros((0, len(cols)))


def _rows_from(candles: AlignedCandles, lo: int) -> AlignedCandles:
    """The aligned candles from row ``lo`` on."""
    return replace(candles, **{f.name: getattr(candles, f.name)[lo:] for f in fields(candles)
                               if isinstance(getattr(candles, f.name), np.ndarray)})


#: ModelInputs fields with one row per candle.
_PER_CANDLE_INPUTS = ("dates_ns", "ref_price", "entry", "seed_usd", "intra_usd", "long_share", "close_frac",
                      "cons_low", "cons_high", "level_bucket", "ref_bucket", "oi_fallback", "funding_fallback")
#: Those that appending re-expresses on the kept bucket grid (or carries over NaN closes).
_REBASED_INPUTS = ("ref_price", "ref_bucket", "level_bucket")


def _tail(inputs: ModelInputs, skip: int) -> ModelInputs:
    """Drop the first ``skip`` candles of prepared inputs (the bucket grid is kept)."""
    for name in _PER_CANDLE_INPUTS:
        setattr(inputs, name, getattr(inputs, name)[skip:])
    return inputs
