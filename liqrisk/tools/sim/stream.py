"""The simulated market continued in wall-clock time (used by ``liqrisk exchange --live``).

``LiveMarket(datadir)`` loads what ``liqrisk simulate`` wrote: the 1m futures and mark
candles, the funding settlements, the 5m open interest and the model state saved at the
end (``liqrisk_truth/state/<PAIR>.npz``). It moves all of it forward by a whole number
of 8-hour periods, so that the history ends at or just before the current UTC time and
funding still settles at 00, 08 and 16 UTC, then simulates the minutes up to now with
the same agent model. Pairs without a usable saved state (or a datadir with nothing in
it) get a fresh ``FRESH_DAYS``-day history instead.

``refresh(now_ms)`` simulates every 1m candle that has closed by ``now_ms`` (UTC ms).
``frame(pair, kind, timeframe)`` returns the freqtrade-shaped frame (same columns and
dtypes as the files); 5m/1h candles are aggregated from the 1m series and the last one
may be partial (the candle in progress, as an exchange serves it). Frames are cached and
rebuilt only when new minutes arrived, so repeated calls cost microseconds.

Time shift and seed: the shift is ``k · 8 h`` with k chosen from the clock, so the same
files give the same prices at the same wall-clock minute modulo that shift. ``seed``
only matters when there is no saved state (fresh history) or when it differs from the
seed the state was made with, in which case the continuation draws other random numbers.

Density: a saved market continues at the density it was simulated with (kept in its
state with the model parameters), whatever ``cohorts_per_minute`` says. A fresh pair
uses ``cohorts_per_minute`` if given, else the density in the datadir's ``meta.json``
(so it matches the saved pairs), else ``COHORTS_PER_MINUTE``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.tools.sim import cohort_layout as L
from liqrisk.tools.sim import frames as F
from liqrisk.tools.sim.pair_market import PairMarket
from liqrisk.tools.sim.specs import COHORTS_PER_MINUTE, check_cohorts_per_minute, pair_seed
from liqrisk.tools.sim.truth import SIDES, TRUTH_DIRNAME
from liqrisk.tools.sim.writer import WARMUP_DAYS, data_filename, pair_to_filename

logger = logging.getLogger(__name__)

DEFAULT_PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "XRP/USDT:USDT"]
FRESH_DAYS = 7
FUNDING_MS = L.FUNDING_MS
_COMPACT_COHORTS = 200_000


class _Growable:
    """A 2-D float array that appends rows with amortised doubling."""

    def __init__(self, values: np.ndarray):
        values = np.asarray(values, dtype=np.float64)
        self.n = values.shape[0]
        self.buf = np.empty((max(2 * self.n, 1024),) + values.shape[1:])
        self.buf[: self.n] = values

    def append(self, values: np.ndarray) -> None:
        k = values.shape[0]
        if self.n + k > self.buf.shape[0]:
            new = np.empty((max(2 * self.buf.shape[0], self.n + k),) + self.buf.shape[1:])
            new[: self.n] = self.buf[: self.n]
            self.buf = new
        self.buf[self.n : self.n + k] = values
        self.n += k

    @property
    def values(self) -> np.ndarray:
        return self.buf[: self.n]


@dataclass
class _LivePair:
    market: PairMarket
    start_ms: int  # UTC open time of the first 1m candle
    fut: _Growable  # (n, 5) OHLCV, rounded like the files
    mark: _Growable  # (n, 4)
    oi_at: _Growable  # (n + 1, 2): amount, value at start_ms + k·60 s (NaN where unknown)
    funding_ms: list[int]
    funding_rate: list[float]
    liquidations: deque = field(default_factory=lambda: deque(maxlen=100_000))
    cache: dict[tuple[str, str], tuple[int, pd.DataFrame | None]] = field(default_factory=dict)

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.fut.n * F.MINUTE_MS

    def append_block(self, block) -> None:
        tick = self.market.spec.tick
        fut = block.fut.copy()
        fut[:, :4] = F.round_to_tick(fut[:, :4], tick)
        fut[:, 4] = np.round(fut[:, 4], 3)
        self.fut.append(fut)
        self.mark.append(block.mark)
        amount = np.round(block.oi, 3)
        self.oi_at.append(np.column_stack([amount, np.round(amount * block.mark[:, 3], 2)]))
        self.funding_ms.extend(int(t) for t in block.funding_ms)
        self.funding_rate.extend(float(r) for r in block.funding_rate)
        if block.liq_ms.size:
            c = self.market.cohorts()
            ids = block.liq_id
            for t, side, price, qty in zip(
                block.liq_ms, SIDES[c["side"][ids]], c["liq_price"][ids], c["qty"][ids], strict=True
            ):
                self.liquidations.append((int(t), str(side), float(price), float(qty), float(qty * price)))
        self.cache.clear()


class LiveMarket:
    """Continues a simulated market in wall-clock time."""

    def __init__(self, datadir, *, pairs=None, seed: int | None = 42, exchange: str = "binance",
                 now_ms: int | None = None, cohorts_per_minute: float | None = None):
        """
        :param datadir: freqtrade data root (``<datadir>/<exchange>/futures``) or the
            exchange folder itself.
        :param pairs: ccxt symbols to serve; default: every pair with saved data, or
            ``DEFAULT_PAIRS`` for a fresh market.
        :param now_ms: UTC ms to align to (default: the clock); tests pin it.
        :param cohorts_per_minute: density of pairs simulated afresh (default: the
            datadir's ``meta.json``, else ``COHORTS_PER_MINUTE``). Saved pairs always
            continue at their own density.
        """
        now_ms = int(time.time() * 1000) if now_ms is None else int(now_ms)
        self.seed = 42 if seed is None else int(seed)
        root = Path(datadir)
        self.root = root if (root / "futures").is_dir() else root / exchange
        self._lock = threading.Lock()
        self._meta = self._read_meta()
        if cohorts_per_minute is None:
            try:
                cohorts_per_minute = check_cohorts_per_minute(self._meta.get("cohorts_per_minute", COHORTS_PER_MINUTE))
            except ValueError as e:
                logger.warning("liqrisk live: meta.json: %s Using %g.", e, COHORTS_PER_MINUTE)
                cohorts_per_minute = COHORTS_PER_MINUTE
        self.cohorts_per_minute = check_cohorts_per_minute(cohorts_per_minute)
        saved = self._saved_pairs()
        if pairs is None:
            pairs = saved or list(DEFAULT_PAIRS)
        self.pairs: list[str] = list(dict.fromkeys(pairs))
        self._p: dict[str, _LivePair] = {}
        for pair in self.pairs:
            live = self._load(pair, now_ms) if pair in saved else None
            if live is None:
                live = self._fresh(pair, now_ms)
            self._p[pair] = live
        self.refresh(now_ms)

    # -- loading -------------------------------------------------------------------------

    def _read_meta(self) -> dict:
        meta = self.root / TRUTH_DIRNAME / "meta.json"
        if not meta.is_file():
            return {}
        try:
            out = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            logger.warning("liqrisk live: cannot read %s (%s); ignoring it.", meta, e)
            return {}
        return out if isinstance(out, dict) else {}

    def _saved_pairs(self) -> list[str]:
        state_dir = self.root / TRUTH_DIRNAME / "state"
        if not state_dir.is_dir():
            return []
        names = {p.stem for p in state_dir.glob("*.npz")}
        pairs = self._meta.get("pairs", [])
        return [p for p in pairs if pair_to_filename(p) in names]

    def _load(self, pair: str, now_ms: int) -> _LivePair | None:
        futures_dir = self.root / "futures"
        try:
            with np.load(self.root / TRUTH_DIRNAME / "state" / f"{pair_to_filename(pair)}.npz") as z:
                state = {k: z[k] for k in z.files}
            market = PairMarket.from_state(pair, state)  # at the density it was saved with
            fut = pd.read_feather(data_filename(futures_dir, pair, "1m", "futures"))
            mark = pd.read_feather(data_filename(futures_dir, pair, "1m", "mark"))
            funding = pd.read_feather(data_filename(futures_dir, pair, "1h", "funding_rate"))
            oi = pd.read_feather(data_filename(futures_dir, pair, "5m", "open_interest"))
        except (OSError, KeyError, ValueError) as e:
            logger.warning("liqrisk live: cannot continue the saved market of %s (%s); simulating afresh.", pair, e)
            return None
        fut_ms = fut["date"].dt.as_unit("ms").astype("int64").to_numpy()
        n = fut_ms.size
        start_ms = int(fut_ms[0]) if n else 0
        if (
            n == 0
            or len(mark) != n
            or np.any(np.diff(fut_ms) != F.MINUTE_MS)
            or start_ms + n * F.MINUTE_MS != market.next_ms
        ):
            logger.warning("liqrisk live: files of %s do not match its saved state; simulating afresh.", pair)
            return None
        if market.cohorts_per_minute != self.cohorts_per_minute:
            logger.warning("liqrisk live: %s continues at its saved density of %g cohorts/min, not %g.",
                           pair, market.cohorts_per_minute, self.cohorts_per_minute)
        if self.seed != market.seed:
            market.a["rng"][:] = pair_seed(self.seed * 1_000_003 + market.seed, pair)
        oi_at = np.full((n + 1, 2), np.nan)
        oi_ms = oi["date"].dt.as_unit("ms").astype("int64").to_numpy()
        k = (oi_ms - start_ms) // F.MINUTE_MS
        ok = (k >= 0) & (k <= n)
        oi_at[k[ok], 0] = oi["open_interest_amount"].to_numpy()[ok]
        oi_at[k[ok], 1] = oi["open_interest_value"].to_numpy()[ok]
        live = _LivePair(
            market=market,
            start_ms=start_ms,
            fut=_Growable(fut[["open", "high", "low", "close", "volume"]].to_numpy(dtype=np.float64)),
            mark=_Growable(mark[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)),
            oi_at=_Growable(oi_at),
            funding_ms=[int(t) for t in funding["date"].dt.as_unit("ms").astype("int64")],
            funding_rate=[float(r) for r in funding["funding_rate"]],
        )
        # The snapshot at the end of the history is known from the state.
        live.oi_at.buf[n, 0] = round(market.open_interest, 3)
        live.oi_at.buf[n, 1] = round(market.open_interest * float(live.mark.values[-1, 3]), 2)
        self._shift(live, now_ms)
        return live

    def _fresh(self, pair: str, now_ms: int) -> _LivePair:
        end_ms = now_ms - now_ms % FUNDING_MS
        start_ms = end_ms - FRESH_DAYS * 86_400_000
        warm = WARMUP_DAYS * 1440
        market = PairMarket(pair, self.seed, start_ms - warm * F.MINUTE_MS, cohorts_per_minute=self.cohorts_per_minute)
        before = market.advance(warm)
        live = _LivePair(
            market=market,
            start_ms=start_ms,
            fut=_Growable(np.empty((0, 5))),
            mark=_Growable(np.empty((0, 4))),
            oi_at=_Growable(np.array([[round(float(before.oi[-1]), 3),
                                       round(float(before.oi[-1] * before.mark[-1, 3]), 2)]])),
            funding_ms=[],
            funding_rate=[],
        )
        # oi_at[0] is the state at start_ms; append_block adds the end of each minute.
        main = market.advance(FRESH_DAYS * 1440)
        live.append_block(main)
        live.liquidations.clear()
        return live

    @staticmethod
    def _shift(live: _LivePair, now_ms: int) -> None:
        periods = (now_ms - live.end_ms) // FUNDING_MS
        delta = int(periods * FUNDING_MS)
        if delta:
            live.start_ms += delta
            live.funding_ms = [t + delta for t in live.funding_ms]
            live.market.shift_time(delta)

    # -- live ----------------------------------------------------------------------------

    def refresh(self, now_ms: int) -> None:
        """Simulate every 1m candle that has closed by ``now_ms`` (UTC ms)."""
        closed_end = int(now_ms) - int(now_ms) % F.MINUTE_MS
        with self._lock:
            for live in self._p.values():
                todo = (closed_end - live.end_ms) // F.MINUTE_MS
                if todo <= 0:
                    continue
                block = live.market.advance(int(todo))
                live.append_block(block)
                market = live.market
                if market.a["si"][L.I_N_COH] > max(_COMPACT_COHORTS, 20 * market.a["si"][L.I_N_ACT]):
                    market.compact()

    def frame(self, pair: str, kind: str, timeframe: str) -> pd.DataFrame | None:
        """Freqtrade frame of ``kind`` ("futures", "mark", "funding_rate", "open_interest").

        Do not modify the returned frame: it is shared by later calls until new candles come.
        """
        live = self._p.get(pair)
        minutes = F.TIMEFRAME_MINUTES.get(timeframe)
        if live is None or minutes is None:
            return None
        with self._lock:
            key = (kind, timeframe)
            cached = live.cache.get(key)
            if cached is not None and cached[0] == live.fut.n:
                return cached[1]
            df = self._build(live, kind, minutes)
            live.cache[key] = (live.fut.n, df)
            return df

    @staticmethod
    def _build(live: _LivePair, kind: str, minutes: int) -> pd.DataFrame | None:
        if kind == "futures":
            v = live.fut.values
            t, agg = F.aggregate_ohlc(live.start_ms, v[:, :4], v[:, 4], minutes)
            return F.ohlcv_frame(t, agg)
        if kind == "mark":
            t, agg = F.aggregate_ohlc(live.start_ms, live.mark.values, None, minutes)
            return F.ohlcv_frame(t, agg)
        if kind == "funding_rate":
            if minutes not in (60, 480):
                return None
            return F.funding_frame(np.array(live.funding_ms, dtype=np.int64), np.array(live.funding_rate))
        if kind == "open_interest":
            if minutes < 5 or minutes % 5:
                return None
            oi = live.oi_at.values
            t = live.start_ms + F.MINUTE_MS * np.arange(oi.shape[0], dtype=np.int64)
            rows = np.flatnonzero((t % (minutes * F.MINUTE_MS) == 0) & np.isfinite(oi[:, 0]))
            return F.open_interest_frame(t[rows], oi[rows, 0], oi[rows, 1])
        return None

    # -- extras for the exchange server ---------------------------------------------------

    def mark_price(self, pair: str) -> float | None:
        """Latest mark price (quote), at the end of the last closed minute."""
        live = self._p.get(pair)
        return None if live is None or live.mark.n == 0 else float(live.mark.values[-1, 3])

    def predicted_funding_rate(self, pair: str) -> float | None:
        """The next settlement's rate if it were now (fraction per 8 h)."""
        live = self._p.get(pair)
        return None if live is None else live.market.predicted_funding_rate()

    def liquidations(self, pair: str, since_ms: int = 0) -> pd.DataFrame:
        """Liquidations simulated live (not the history): date (UTC ms), side, price, qty, usd."""
        live = self._p.get(pair)
        rows = [] if live is None else [r for r in live.liquidations if r[0] >= since_ms]
        return pd.DataFrame(rows, columns=["date", "side", "price", "qty", "usd"])
