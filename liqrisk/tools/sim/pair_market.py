"""One simulated pair: the kernel's state, its growth, and what each step produced.

``PairMarket(pair, seed, start_ms, cohorts_per_minute=3.0)`` starts an empty market at
UTC ``start_ms`` (a whole minute) with that density of cohort openings; ``advance(n)``
simulates the next ``n`` 1-minute candles and returns a ``Block`` with the minute series
and the events of that span. The cohort table (every position cohort ever opened) stays
in the market and is read with ``cohorts()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from liqrisk.tools.sim import cohort_layout as L
from liqrisk.tools.sim.cohort_kernels import simulate_minutes
from liqrisk.tools.sim.specs import (
    COHORTS_PER_MINUTE,
    PairSpec,
    leverage_tables,
    model_params,
    pair_seed,
    pair_spec,
)

# Cohort-indexed arrays: (name, dtype). Heaps and the active list are bounded by the
# number of cohorts too, so they grow with them.
_COHORT_ARRAYS = (
    ("c_side", np.int8),
    ("c_open_ms", np.int64),
    ("c_end_ms", np.int64),
    ("c_status", np.int8),
    ("c_entry", np.float64),
    ("c_lp", np.float64),
    ("c_qty", np.float64),
    ("c_lev_idx", np.int16),
    ("c_size_idx", np.int16),
    ("c_stop", np.float64),
    ("c_close_ms", np.int64),
    ("active", np.int64),
    ("apos", np.int64),
    ("hl_k", np.float64),
    ("hl_i", np.int64),
    ("hs_k", np.float64),
    ("hs_i", np.int64),
    ("hc_k", np.float64),
    ("hc_i", np.int64),
    ("htl_k", np.float64),
    ("htl_i", np.int64),
    ("hts_k", np.float64),
    ("hts_i", np.int64),
)
_EVENT_ARRAYS = (("ev_ms", np.int64), ("ev_id", np.int64), ("ev_mark", np.float64))
_FUNDING_ARRAYS = (("fu_ms", np.int64), ("fu_rate", np.float64))
_SNAPSHOT_ARRAYS = (("sn_ms", np.int64), ("sn_side", np.int8), ("sn_k", np.int64), ("sn_usd", np.float64))
_STATE_ARRAYS = ("sf", "si", "rng", "ring") + tuple(n for n, _ in _COHORT_ARRAYS)

CHUNK_MINUTES = 1440


@dataclass
class Block:
    """What ``advance`` produced for minutes ``[start_ms, start_ms + 60_000·n)``.

    ``fut``: (n, 5) open, high, low, close (last price, quote) and volume (base units);
    ``mark``: (n, 4) mark OHLC (quote); ``oi``: (n,) open interest in base units at the
    END of each minute; ``index``: (n,) index close. Events: liquidations
    (``liq_ms`` UTC ms, ``liq_id`` cohort id, ``liq_mark`` mark at the trigger),
    funding settlements (``funding_ms``, ``funding_rate`` fraction per 8 h) and truth
    snapshots (``snap_ms``, ``snap_side`` 0 long / 1 short, ``snap_bucket``,
    ``snap_usd``), see ``liqrisk.tools.sim.truth``.
    """

    start_ms: int
    fut: np.ndarray
    mark: np.ndarray
    oi: np.ndarray
    index: np.ndarray
    liq_ms: np.ndarray
    liq_id: np.ndarray
    liq_mark: np.ndarray
    funding_ms: np.ndarray
    funding_rate: np.ndarray
    snap_ms: np.ndarray
    snap_side: np.ndarray
    snap_bucket: np.ndarray
    snap_usd: np.ndarray


@dataclass
class _Pending:
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray) -> None:
        self.parts.setdefault(name, []).append(values.copy())

    def take(self, name: str, dtype) -> np.ndarray:
        parts = self.parts.get(name)
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


class PairMarket:
    """The agent-based market of one pair, advanced minute by minute."""

    def __init__(self, pair: str, seed: int, start_ms: int, *, spec: PairSpec | None = None,
                 cohorts_per_minute: float = COHORTS_PER_MINUTE):
        """
        :param cohorts_per_minute: market density, mean cohort openings per minute (> 0,
            see ``liqrisk.tools.sim.specs.COHORTS_PER_MINUTE``); ConfigError otherwise.
        """
        if start_ms % L.MINUTE_MS:
            raise ValueError(f"start_ms={start_ms} is not a whole UTC minute.")
        self.pair = pair
        self.seed = int(seed)
        self.spec = spec or pair_spec(pair)
        self.tables = leverage_tables(pair)
        self.prm = model_params(self.spec, self.tables, cohorts_per_minute=cohorts_per_minute)
        self.max_opens = L.max_opens_per_minute(self.prm[L.P_LAMBDA])
        self.next_ms = int(start_ms)
        cap = 65_536
        self.a: dict[str, np.ndarray] = {name: np.zeros(cap, dtype=dt) for name, dt in _COHORT_ARRAYS}
        self.a["apos"][:] = -1
        self.a["sf"] = np.zeros(L.N_SF)
        self.a["si"] = np.zeros(L.N_SI, dtype=np.int64)
        self.a["rng"] = pair_seed(seed, pair)
        x0 = np.log(self.spec.start_price)
        self.a["ring"] = np.full(L.RING, x0)
        sf = self.a["sf"]
        sf[L.S_X] = x0
        sf[L.S_SIG2] = self.prm[L.P_SIG_BAR] ** 2
        sf[L.S_PREM] = sf[L.S_PREM_EMA] = self.prm[L.P_INTEREST]
        sf[L.S_LAST_FUNDING] = self.prm[L.P_INTEREST]
        sf[L.S_PREV_XJ] = x0
        sf[L.S_LAST] = self.spec.start_price * (1.0 + sf[L.S_PREM])
        sf[L.S_MARK] = sf[L.S_LAST]
        self._alloc_outputs(16_384, 64, 65_536)

    @property
    def cohorts_per_minute(self) -> float:
        """The market's density: mean cohort openings per minute."""
        return float(self.prm[L.P_LAMBDA])

    # -- state ---------------------------------------------------------------------------

    def _alloc_outputs(self, n_ev: int, n_fu: int, n_sn: int) -> None:
        for names, n in ((_EVENT_ARRAYS, n_ev), (_FUNDING_ARRAYS, n_fu), (_SNAPSHOT_ARRAYS, n_sn)):
            for name, dt in names:
                self.a[name] = np.zeros(n, dtype=dt)

    def _grow_cohorts(self) -> None:
        for name, _dt in _COHORT_ARRAYS:
            old = self.a[name]
            new = np.zeros(old.size * 2, dtype=old.dtype)
            new[: old.size] = old
            if name == "apos":
                new[old.size:] = -1
            self.a[name] = new

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to continue this market (see ``from_state``).

        Only open cohorts are kept (renumbered), so the state of a 90-day run is small;
        the heaps are rebuilt as sorted arrays, which are valid binary heaps. The density
        is saved with the model parameters (``meta_prm[P_LAMBDA]``).
        """
        a = self.a
        si = a["si"].copy()
        n = int(si[L.I_N_COH])
        keep = np.flatnonzero(a["c_status"][:n] == L.STATUS_OPEN)
        out: dict[str, np.ndarray] = {}
        for name, dt in _COHORT_ARRAYS:
            if name.startswith("c_"):
                out[name] = a[name][keep].astype(dt)
        m = keep.size
        new_ids = np.arange(m, dtype=np.int64)
        out["active"] = new_ids.copy()
        out["apos"] = new_ids.copy()
        side = out["c_side"]
        stop = out["c_stop"]

        def heap(key: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            order = np.argsort(key, kind="stable")
            return key[order].astype(np.float64), ids[order].astype(np.int64)

        longs, shorts = new_ids[side == 0], new_ids[side == 1]
        out["hl_k"], out["hl_i"] = heap(-out["c_lp"][longs], longs)
        out["hs_k"], out["hs_i"] = heap(out["c_lp"][shorts], shorts)
        out["hc_k"], out["hc_i"] = heap(out["c_close_ms"].astype(np.float64), new_ids)
        l_stop = longs[np.isfinite(stop[longs])]
        s_stop = shorts[np.isfinite(stop[shorts])]
        out["htl_k"], out["htl_i"] = heap(-stop[l_stop], l_stop)
        out["hts_k"], out["hts_i"] = heap(stop[s_stop], s_stop)
        si[L.I_N_COH] = m
        si[L.I_N_ACT] = m
        si[L.I_HL], si[L.I_HS], si[L.I_HC] = longs.size, shorts.size, m
        si[L.I_HTL], si[L.I_HTS] = l_stop.size, s_stop.size
        si[L.I_N_EV] = si[L.I_N_FU] = si[L.I_N_SN] = 0
        out["si"] = si
        out["sf"] = a["sf"].copy()
        out["rng"] = a["rng"].copy()
        out["ring"] = a["ring"].copy()
        out["meta_next_ms"] = np.array([self.next_ms], dtype=np.int64)
        out["meta_seed"] = np.array([self.seed], dtype=np.int64)
        out["meta_prm"] = self.prm.copy()
        return out

    def compact(self) -> None:
        """Forget closed cohorts (renumbering the open ones), e.g. in a long live run."""
        state = self.state_dict()
        self.__dict__.update(PairMarket.from_state(self.pair, state).__dict__)

    @classmethod
    def from_state(cls, pair: str, state: dict[str, np.ndarray]) -> PairMarket:
        """Rebuild a market saved by ``state_dict`` (the same pair), at the saved density."""
        saved_prm = state["meta_prm"]
        if saved_prm.shape != (L.N_PRM,):
            raise ValueError(f"saved state of {pair} was made with other model parameters.")
        market = cls(pair, int(state["meta_seed"][0]), int(state["meta_next_ms"][0]),
                     cohorts_per_minute=float(saved_prm[L.P_LAMBDA]))
        if not np.array_equal(market.prm, saved_prm):
            raise ValueError(f"saved state of {pair} was made with other model parameters.")
        n = int(state["si"][L.I_N_COH])
        while market.a["c_side"].size < n + market.max_opens + 1:
            market._grow_cohorts()
        for name in _STATE_ARRAYS:
            src = state[name]
            if name in dict(_COHORT_ARRAYS):
                market.a[name][: src.size] = src
            else:
                market.a[name] = src.copy()
        return market

    def shift_time(self, delta_ms: int) -> None:
        """Move the market's clock by ``delta_ms`` (a multiple of 8 h keeps funding times)."""
        self.next_ms += int(delta_ms)
        n = int(self.a["si"][L.I_N_COH])
        self.a["c_open_ms"][:n] += delta_ms
        self.a["c_close_ms"][:n] += delta_ms
        end = self.a["c_end_ms"][:n]
        end[end >= 0] += delta_ms
        self.a["hc_k"][: int(self.a["si"][L.I_HC])] += float(delta_ms)

    def cohorts(self) -> dict[str, np.ndarray]:
        """Every cohort opened so far (views; ids are row numbers).

        side 0 long / 1 short; open_ms, end_ms UTC ms (end -1 while open); status 0 open,
        1 closed voluntarily, 2 liquidated, 3 stopped out; entry, liquidation and stop
        price (quote, stop NaN if none); qty (base
        units, whole cohort); leverage (effective, after the bracket cap) and the per-trader
        notional, MMR and cum (USD) that fixed the liquidation price.
        """
        n = int(self.a["si"][L.I_N_COH])
        a = self.a
        side = a["c_side"][:n]
        lev_idx = a["c_lev_idx"][:n].astype(np.int64)
        size_idx = a["c_size_idx"][:n].astype(np.int64)
        return {
            "side": side,
            "open_ms": a["c_open_ms"][:n],
            "end_ms": a["c_end_ms"][:n],
            "status": a["c_status"][:n],
            "entry": a["c_entry"][:n],
            "liq_price": a["c_lp"][:n],
            "stop_price": a["c_stop"][:n],
            "qty": a["c_qty"][:n],
            "leverage": self.tables.effective[side.astype(np.int64), lev_idx, size_idx],
            "nominal_leverage": self.tables.nominal[lev_idx],
            "position_notional": self.tables.sizes[size_idx],
            "mmr": self.tables.mmr[size_idx],
            "cum": self.tables.cum[size_idx],
        }

    @property
    def open_interest(self) -> float:
        """Open interest now, base units."""
        return float(self.a["sf"][L.S_OI])

    @property
    def last_mark(self) -> float:
        return float(self.a["sf"][L.S_MARK])

    @property
    def premium(self) -> float:
        """Current premium of the last price over the index (fraction)."""
        return float(self.a["sf"][L.S_PREM])

    @property
    def premium_average(self) -> float:
        """Mean premium since the last funding settlement (fraction)."""
        sf = self.a["sf"]
        return float(sf[L.S_PREM_ACC] / sf[L.S_PREM_N]) if sf[L.S_PREM_N] > 0 else float(sf[L.S_PREM])

    def predicted_funding_rate(self) -> float:
        """The rate the next settlement would have if it happened now (fraction per 8 h)."""
        p = self.premium_average
        rate = p + min(max(self.prm[L.P_INTEREST] - p, -0.0005), 0.0005)
        cap = self.prm[L.P_FUND_CAP]
        return float(min(max(rate, -cap), cap))

    # -- simulation ----------------------------------------------------------------------

    def advance(self, n_minutes: int, progress: Callable[[int], None] | None = None) -> Block:
        """Simulate the next ``n_minutes`` minutes; ``progress(done)`` after each chunk."""
        fut = np.empty((n_minutes, 5))
        mark = np.empty((n_minutes, 4))
        oi = np.empty(n_minutes)
        index = np.empty(n_minutes)
        pending = _Pending()
        start_ms = self.next_ms
        done = 0
        a = self.a
        t = self.tables
        while done < n_minutes:
            todo = min(CHUNK_MINUTES, n_minutes - done)
            got = simulate_minutes(
                todo, self.next_ms, self.prm, self.max_opens, t.factor, t.nominal, t.lev_cdf, t.size_cdf,
                a["sf"], a["si"], a["rng"], a["ring"],
                a["c_side"], a["c_open_ms"], a["c_end_ms"], a["c_status"], a["c_entry"], a["c_lp"],
                a["c_qty"], a["c_lev_idx"], a["c_size_idx"], a["c_stop"], a["c_close_ms"], a["active"], a["apos"],
                a["hl_k"], a["hl_i"], a["hs_k"], a["hs_i"], a["hc_k"], a["hc_i"],
                a["htl_k"], a["htl_i"], a["hts_k"], a["hts_i"],
                fut[done:], mark[done:], oi[done:], index[done:],
                a["ev_ms"], a["ev_id"], a["ev_mark"], a["fu_ms"], a["fu_rate"],
                a["sn_ms"], a["sn_side"], a["sn_k"], a["sn_usd"],
            )
            done += got
            self.next_ms += got * L.MINUTE_MS
            self._drain(pending)
            if got < todo:
                self._make_room()
            if progress is not None and got:
                progress(done)
        return Block(
            start_ms=start_ms, fut=fut, mark=mark, oi=oi, index=index,
            liq_ms=pending.take("ev_ms", np.int64), liq_id=pending.take("ev_id", np.int64),
            liq_mark=pending.take("ev_mark", np.float64),
            funding_ms=pending.take("fu_ms", np.int64), funding_rate=pending.take("fu_rate", np.float64),
            snap_ms=pending.take("sn_ms", np.int64), snap_side=pending.take("sn_side", np.int8),
            snap_bucket=pending.take("sn_k", np.int64), snap_usd=pending.take("sn_usd", np.float64),
        )

    def _drain(self, pending: _Pending) -> None:
        si = self.a["si"]
        for names, counter in ((_EVENT_ARRAYS, L.I_N_EV), (_FUNDING_ARRAYS, L.I_N_FU), (_SNAPSHOT_ARRAYS, L.I_N_SN)):
            n = int(si[counter])
            if n:
                for name, _dt in names:
                    pending.add(name, self.a[name][:n])
                si[counter] = 0

    def _make_room(self) -> None:
        si = self.a["si"]
        headroom = self.max_opens + 1
        if self.a["c_side"].size - si[L.I_N_COH] < headroom:
            self._grow_cohorts()
        need = 2 * (int(si[L.I_N_ACT]) + headroom) + 2
        n_ev = max(self.a["ev_ms"].size, 2 * need)
        n_sn = max(self.a["sn_ms"].size, 2 * need)
        if n_ev > self.a["ev_ms"].size or n_sn > self.a["sn_ms"].size:
            self._alloc_outputs(n_ev, self.a["fu_ms"].size, n_sn)
