"""Fixtures of the local-exchange tests: a small datadir in freqtrade's format, servers, ccxt clients.

The data is a deterministic random walk written with freqtrade's own data handler, so the files
are exactly what ``freqtrade download-data`` writes. It ends at the last full hour before the
tests start, because the server's clock is the real clock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
FREQTRADE = str(VENV_BIN / "freqtrade")

#: Pairs of the test datadir and their starting prices (USDT).
PAIRS: dict[str, float] = {"BTC/USDT:USDT": 60_000.0, "ETH/USDT:USDT": 3_000.0}
DAYS = 4
HOUR_MS = 3_600_000


def _walk(rng: np.random.Generator, start_price: float, n: int) -> pd.DataFrame:
    """n one-minute candles of a random walk (0.08 % per minute)."""
    close = start_price * np.exp(np.cumsum(rng.normal(0, 8e-4, n)))
    open_ = np.concatenate([[start_price], close[:-1]])
    wick = np.abs(rng.normal(0, 4e-4, (2, n)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = np.round(rng.lognormal(3, 0.5, n), 3)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume})


def _resample(df: pd.DataFrame, rule: str) -> pd.DataFrame:
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = df.set_index("date").resample(rule, label="left", closed="left").agg(agg).dropna()
    return out.reset_index()


def write_datadir(root: Path, end: pd.Timestamp, days: int = DAYS, seed: int = 7) -> Path:
    """Write futures (1m, 5m, 1h), mark (1h), funding_rate (1h file, 8h rows) and open_interest
    (5m, 1h) files for PAIRS into ``root/binance/futures``; candles open in [end - days, end)."""
    from freqtrade.data.history.datahandlers import get_datahandler
    from freqtrade.enums import CandleType

    (root / "binance" / "futures").mkdir(parents=True, exist_ok=True)
    handler = get_datahandler(root / "binance", "feather")
    rng = np.random.default_rng(seed)
    n = days * 1440
    dates = pd.date_range(end - pd.Timedelta(days=days), periods=n, freq="1min", tz="UTC")
    for pair, price in PAIRS.items():
        m1 = _walk(rng, price, n)
        m1.insert(0, "date", dates)
        handler.ohlcv_store(pair, "1m", m1, CandleType.FUTURES)
        handler.ohlcv_store(pair, "5m", _resample(m1, "5min"), CandleType.FUTURES)
        h1 = _resample(m1, "1h")
        handler.ohlcv_store(pair, "1h", h1, CandleType.FUTURES)
        mark = h1.copy()
        for col in ("open", "high", "low", "close"):
            mark[col] = (mark[col] * (1 - 2e-4)).round(8)
        mark["volume"] = 0.0
        handler.ohlcv_store(pair, "1h", mark, CandleType.MARK)
        fdates = dates[::480]  # 8 h funding
        funding = pd.DataFrame({"date": fdates, "funding_rate": np.round(rng.normal(1e-4, 5e-5, len(fdates)), 8)})
        handler.ohlcv_store(pair, "1h", funding, CandleType.FUNDING_RATE)
        m5 = _resample(m1, "5min")
        amount = np.round(1e9 / price * np.exp(np.cumsum(rng.normal(0, 2e-3, len(m5)))), 3)
        oi5 = pd.DataFrame({"date": m5["date"], "open_interest_amount": amount,
                            "open_interest_value": np.round(amount * m5["close"].to_numpy(), 4)})
        handler.ohlcv_store(pair, "5m", oi5, CandleType.OPEN_INTEREST)
        oi1h = oi5[oi5["date"].dt.minute == 0].reset_index(drop=True)
        handler.ohlcv_store(pair, "1h", oi1h, CandleType.OPEN_INTEREST)
    return root


@pytest.fixture(scope="session")
def data_end() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").floor("1h")


@pytest.fixture(scope="session")
def datadir(tmp_path_factory, data_end) -> Path:
    return write_datadir(tmp_path_factory.mktemp("localex-data"), data_end)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONWARNINGS", None)
    return env


class ServerProcess:
    """``python -m liqrisk.cli exchange`` in a subprocess, stopped with SIGTERM."""

    def __init__(self, datadir: Path, *extra: str, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "liqrisk.cli", "exchange", "--datadir", str(datadir),
               "--port", str(self.port), *extra]
        self._log_fh = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT, cwd=REPO,
                                     env=subprocess_env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log.read_text()}")
            if "listening on" in log.read_text():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_fh.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def server_proc(datadir, tmp_path_factory):
    srv = ServerProcess(datadir, log=tmp_path_factory.mktemp("localex-log") / "server.log")
    yield srv
    srv.stop()


def offline_config(tmp: Path, url: str, template: str = "config.offline.json") -> Path:
    """``user_data/<template>`` with the test server's URL and the test pairs, written to
    ``tmp/config.json`` (user data in ``tmp/user_data``)."""
    cfg = json.loads((REPO / "user_data" / template).read_text().replace("http://127.0.0.1:8765", url))
    cfg["exchange"]["pair_whitelist"] = list(PAIRS)
    cfg["user_data_dir"] = str(tmp / "user_data")
    (tmp / "user_data").mkdir(exist_ok=True)
    path = tmp / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path
