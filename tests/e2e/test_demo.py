"""``liqrisk demo`` end to end: simulate → local exchange → unmodified ``freqtrade backtesting`` → results.

Short data (10 days, 2 pairs) in a temporary folder; the exchange takes a free port. The sample
strategy and its baseline are used when ``strategies/`` has them, else the local-exchange tests'
SMA-cross strategy. Every run must leave no exchange process behind: after success, after a
failing freqtrade and after SIGTERM in the middle of the backtest.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from liqrisk.tools.demo.data import ensure_data
from liqrisk.tools.demo.freqtrade_run import (
    DEFAULT_STRATEGIES,
    find_strategies,
    latest_backtest,
    read_backtest,
)
from liqrisk.tools.demo.processes import subprocess_env
from liqrisk.tools.sim.writer import simulate_datadir

from .conftest import REPO, processes_with

PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]
DAYS = 10


def strategy_args() -> list[str]:
    found = find_strategies(REPO / "strategies")
    if all(s in found for s in DEFAULT_STRATEGIES):
        return []  # the defaults: LiqRiskSample + LiqRiskSampleBaseline from strategies/
    return ["--strategy-path", str(REPO / "tests" / "localex" / "strategies"), "--strategy-list", "LocalexSmaCross"]


def demo_cmd(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "liqrisk.cli", "demo", "--datadir", str(tmp / "data"), "--userdir",
            str(tmp / "user_data"), "--days", str(DAYS), "--pairs", *PAIRS, "--port", "0", *strategy_args(), *extra]


def run_demo(tmp: Path, *extra: str, timeout: float = 420) -> subprocess.CompletedProcess:
    return subprocess.run(demo_cmd(tmp, *extra), cwd=REPO, env=subprocess_env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    """A simulated datadir shared by the tests (the first demo run would write the same)."""
    tmp = tmp_path_factory.mktemp("demo")
    ensure_data(tmp / "data", PAIRS, days=DAYS)
    return tmp


def test_demo_runs_freqtrade_and_reports(tmp_path, demo_data):
    (tmp_path / "data").symlink_to(demo_data / "data")
    res = run_demo(tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "already holds the simulation" in out, out[-4000:]  # the shared data matched: no second simulation
    results = tmp_path / "user_data" / "backtest_results"
    bt = read_backtest(latest_backtest(results))
    assert bt.strategies, out[-4000:]
    for s in bt.strategies:
        assert s.trades > 0, (s, out[-4000:])
        assert s.strategy in out and "max drawdown" in out
    assert str(bt.path) in out
    log_dir = tmp_path / "user_data" / "logs"
    assert "listening on http://127.0.0.1:" in (log_dir / "liqrisk-exchange.log").read_text()
    assert "LocalexSmaCross" in (log_dir / "liqrisk-demo-backtesting.log").read_text() or not strategy_args()
    assert processes_with(str(tmp_path / "data")) == [], "the local exchange is still running"


def test_demo_takes_a_free_port_and_stops_the_exchange_when_freqtrade_fails(tmp_path, demo_data):
    (tmp_path / "data").symlink_to(demo_data / "data")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = str(busy.getsockname()[1])
        # No data in 2020: freqtrade fails after the exchange started on another port.
        res = run_demo(tmp_path, "--port", port, "--timerange", "20200101-20200110", "--no-heatmap")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert f"port {port} is in use" in res.stderr and "temporary copy" in res.stderr, res.stderr[-3000:]
    assert "freqtrade backtesting exited with code" in res.stderr
    assert processes_with(str(tmp_path / "data")) == []


def test_demo_stops_everything_on_sigterm(tmp_path, demo_data):
    (tmp_path / "data").symlink_to(demo_data / "data")
    proc = subprocess.Popen(demo_cmd(tmp_path, "--no-heatmap"), cwd=REPO, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    ft_log = tmp_path / "user_data" / "logs" / "liqrisk-demo-backtesting.log"
    try:
        deadline = time.monotonic() + 120
        while not (ft_log.exists() and ft_log.stat().st_size > 0) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        assert ft_log.exists(), "freqtrade never started"
        assert processes_with(str(tmp_path / "data")), "the exchange should be running during the backtest"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out[-3000:]
    assert "interrupted" in out
    assert processes_with(str(tmp_path / "data")) == []
    assert processes_with(str(tmp_path / "user_data")) == [], "freqtrade is still running"


def test_ensure_data_reuses_matching_data_only(tmp_path):
    first = ensure_data(tmp_path, ["XRP/USDT:USDT"], days=1, seed=5)
    assert first.action == "simulated"
    again = ensure_data(tmp_path, ["XRP/USDT:USDT"], days=1, seed=5)
    assert again.action == "reused" and (again.start, again.end) == (first.start, first.end)
    other = ensure_data(tmp_path, ["XRP/USDT:USDT"], days=1, seed=6)
    assert other.action == "simulated" and "seed" in other.reason


def test_ensure_data_does_not_reuse_a_denser_market(tmp_path):
    simulate_datadir(tmp_path, ["XRP/USDT:USDT"], days=1, seed=5, cohorts_per_minute=10.0)
    run = ensure_data(tmp_path, ["XRP/USDT:USDT"], days=1, seed=5)
    assert run.action == "simulated" and "cohorts_per_minute=10.0" in run.reason
    meta = json.loads((tmp_path / "binance" / "liqrisk_truth" / "meta.json").read_text())
    assert meta["cohorts_per_minute"] == 3.0
