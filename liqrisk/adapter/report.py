"""What the mixin tells the operator: counters and the backtest report, dry-run/live
alerts near large clusters, and the ``plot_config`` for ``freqtrade plot-dataframe``."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from liqrisk.core import rules

logger = logging.getLogger(__name__)

#: Fallback spans listed per pair in the report (the count covers every one).
MAX_SPANS = 100


class Counters:
    """What the rules did since start: vetoes per ``side:reason``, stops moved per rule,
    stop exits whose stop a rule had moved, leverage caps per binding constraint."""

    def __init__(self) -> None:
        self.counts = {"veto": {}, "stop_moved": {}, "stop_exit": {}, "leverage_capped": {},
                       "stop_exits_total": 0, "entries_checked": 0}
        self.vetoes: list[dict] = []
        #: pair -> its OI coverage in the last analysed frame (``oi_coverage``).
        self.oi: dict[str, dict] = {}
        #: trade id -> the rule that last moved its stop (``rules.STOP_*``).
        self.stop_rule: dict[int, str] = {}

    def bump(self, group: str, key: str) -> None:
        self.counts[group][key] = self.counts[group].get(key, 0) + 1

    def add(self, name: str) -> None:
        self.counts[name] += 1

    def veto(self, pair: str, current_time: datetime, side: str, reason: str) -> None:
        self.bump("veto", f"{side}:{reason}")
        self.vetoes.append({"pair": pair, "date": current_time.isoformat(), "side": side, "reason": reason})

    def oi_coverage(self, pair: str, frame: pd.DataFrame, skip: int = 0) -> None:
        """Count ``frame``'s candles on the volume proxy (``liq_oi_fallback`` = 1) after its
        first ``skip`` rows (the startup candles freqtrade's backtest drops), with the spans
        they form (open dates of the first and last candle); the pair's last frame counts."""
        if "liq_oi_fallback" not in frame.columns or "date" not in frame.columns:
            return
        rows = frame.iloc[max(int(skip), 0):]
        flag = rows["liq_oi_fallback"].to_numpy() == 1
        dates = pd.to_datetime(rows["date"], utc=True)
        edges = np.flatnonzero(np.diff(np.concatenate([[False], flag, [False]]).astype(np.int8)))
        spans = [[dates.iloc[a].isoformat(), dates.iloc[b - 1].isoformat(), int(b - a)]
                 for a, b in zip(edges[::2], edges[1::2], strict=True)]
        self.oi[pair] = {"candles": len(rows), "fallback": int(flag.sum()), "spans": spans[:MAX_SPANS],
                         "spans_left_off": max(len(spans) - MAX_SPANS, 0)}

    def summary(self) -> dict:
        """A deep copy of the counters (plain JSON types); ``oi_fallback`` per pair: candles
        analysed, candles on the OI volume proxy and their spans ``[first, last, candles]``."""
        out = json.loads(json.dumps(self.counts))
        out["oi_fallback"] = json.loads(json.dumps(self.oi))
        return out


def write_report(strategy: str, counters: Counters, user_data_dir) -> Path | None:
    """Log the counters and write them (and every veto) to
    ``<user_data_dir>/backtest_results/liqrisk-<strategy>-<UTC time>.json``; None if the
    file cannot be written (logged)."""
    summary = counters.summary()
    logger.info("liqrisk %s: entries checked %d, vetoes %s, stops moved %s, stop exits %d (after a liqrisk "
                "move: %s), leverage capped %s, OI-fallback candles %s", strategy, summary["entries_checked"],
                summary["veto"] or "{}", summary["stop_moved"] or "{}", summary["stop_exits_total"],
                summary["stop_exit"] or "{}", summary["leverage_capped"] or "{}",
                {p: f"{c['fallback']}/{c['candles']}" for p, c in summary["oi_fallback"].items()} or "{}")
    try:
        folder = Path(user_data_dir) / "backtest_results"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"liqrisk-{strategy}-{datetime.now(UTC):%Y%m%d_%H%M%S}.json"
        path.write_text(json.dumps({"strategy": strategy, "summary": summary, "vetoes": counters.vetoes}, indent=1))
    except OSError as e:
        logger.warning("liqrisk: could not write the report: %s", e)
        return None
    logger.info("liqrisk: report written to %s", path)
    return path


class Alerts:
    """Dry-run/live messages when the last close nears a large cluster, at most one per
    pair per ``cooldown_min`` minutes (only sent messages start a cooldown)."""

    def __init__(self) -> None:
        self.last_sent: dict[str, float] = {}  # pair -> time.monotonic() of the last message

    def check(self, pair: str, frame: pd.DataFrame, *, window: str, min_share: float, dist: float,
              cooldown_min: float, send) -> None:
        """Call ``send(message)`` when the last row's close is within ``dist`` (fraction of
        price) of a large cluster of ``window``."""
        snap = rules.snapshot_from_row(frame.iloc[-1], window) if len(frame) else None
        if snap is None:
            return
        for where, label in (("below", "long-liquidation"), ("above", "short-liquidation")):
            for price in snap.large(where, min_share):
                d = abs(price / snap.close - 1.0)
                if d <= dist:
                    now = time.monotonic()
                    if now - self.last_sent.get(pair, -1e18) < 60.0 * cooldown_min:
                        return
                    self.last_sent[pair] = now
                    send(f"liqrisk {pair}: price {snap.close:.6g} is {d:.2%} from a large {label} "
                         f"cluster at {price:.6g} ({window}).")
                    return


class PlotConfig(dict):
    """A plot_config generated by liqrisk (regenerated for a subclass's window)."""

    liqrisk = True


def liqrisk_plot_config(window: str = "1d") -> dict:
    """freqtrade ``plot_config``: nearest clusters on the main chart; liquidations, RSI and
    funding subplots."""
    return PlotConfig({
        "main_plot": {
            f"liq_above_nearest_price_{window}": {"color": "rgba(220,50,50,0.8)"},
            f"liq_below_nearest_price_{window}": {"color": "rgba(40,160,70,0.8)"},
        },
        "subplots": {
            "Liquidations (USD)": {
                f"liq_long_est_usd_{window}": {"type": "bar", "color": "rgba(40,160,70,0.7)"},
                f"liq_short_est_usd_{window}": {"type": "bar", "color": "rgba(220,50,50,0.7)"},
            },
            "RSI": {"liq_rsi": {"color": "purple"}},
            "Funding": {"liq_funding_rate": {"type": "bar", "color": "orange"}},
        },
    })
