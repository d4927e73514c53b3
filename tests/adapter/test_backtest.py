"""LiqRiskSample and its baseline through the freqtrade CLI against ``liqrisk exchange``.

Small simulated market (2 pairs × 4 days, generated once per session). XRP's open-interest
files are removed, so one pair runs on the volume-proxy fallback. The liqrisk windows are
shortened to 12h/1d through the config's ``liqrisk`` section to keep the startup short.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools.exchange.conftest import FREQTRADE, REPO, ServerProcess, subprocess_env

PAIRS = ["BTC/USDT:USDT", "XRP/USDT:USDT"]
STRATEGIES = REPO / "strategies"
TIMERANGE = "20250329-20250331"


@pytest.fixture(scope="session")
def sim_datadir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("adapter-sim")
    res = subprocess.run([sys.executable, "-m", "liqrisk.cli", "simulate", "--datadir", str(root), "--days", "4",
                          "--pairs", *PAIRS, "--seed", "42", "--no-progress"], cwd=REPO, env=subprocess_env(),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    for f in (root / "binance" / "futures").glob("XRP_USDT_USDT-*-open_interest.feather"):
        f.unlink()
    return root


@pytest.fixture(scope="session")
def sim_server(sim_datadir, tmp_path_factory):
    srv = ServerProcess(sim_datadir, log=tmp_path_factory.mktemp("adapter-log") / "server.log")
    yield srv
    srv.stop()


def config(tmp: Path, url: str) -> Path:
    cfg = json.loads((REPO / "user_data" / "config.offline.json").read_text().replace("http://127.0.0.1:8765", url))
    cfg["exchange"]["pair_whitelist"] = PAIRS
    cfg["user_data_dir"] = str(tmp / "user_data")
    cfg["liqrisk"] = {"windows": ["12h", "1d"]}
    (tmp / "user_data").mkdir(exist_ok=True)
    path = tmp / "config.json"
    path.write_text(json.dumps(cfg, indent=2))
    return path


def freqtrade(*args: str, cwd: Path, timeout: float = 300) -> str:
    res = subprocess.run([FREQTRADE, *args], cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                         timeout=timeout)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    return out


def test_backtest_both_strategies_with_a_missing_oi_file(sim_server, sim_datadir, tmp_path):
    cfg = config(tmp_path, sim_server.url)
    out = freqtrade("backtesting", "-c", str(cfg), "--datadir", str(sim_datadir / "binance"),
                    "--strategy-path", str(STRATEGIES), "--strategy-list", "LiqRiskSample", "LiqRiskSampleBaseline",
                    "--timerange", TIMERANGE, "--export", "trades", "--cache", "none", cwd=tmp_path)
    for name in ("LiqRiskSample", "LiqRiskSampleBaseline"):
        assert re.search(rf"│\s*{name}\s*│\s*\d+\s*│", out), out[-4000:]
    # The pair without OI ran, on the flagged fallback; the pair with OI did not fall back.
    assert re.search(r"no open_interest candles for XRP/USDT:USDT|open_interest .*XRP/USDT:USDT", out)
    assert "XRP/USDT:USDT uses the volume proxy" in out
    assert "BTC/USDT:USDT uses the volume proxy" not in out
    reports = list((tmp_path / "user_data" / "backtest_results").glob("liqrisk-LiqRiskSample-*.json"))
    assert len(reports) == 1
    summary = json.loads(reports[0].read_text())["summary"]
    assert summary["entries_checked"] > 0
    assert "liqrisk LiqRiskSample: entries checked" in out


def test_hyperopt_runs_over_the_liqrisk_space(sim_server, sim_datadir, tmp_path):
    # freqtrade[hyperopt] (optuna, filelock, scikit-learn) is not a liqrisk dependency yet.
    pytest.importorskip("optuna", reason="freqtrade[hyperopt] extra not installed")
    pytest.importorskip("filelock", reason="freqtrade[hyperopt] extra not installed")
    cfg = config(tmp_path, sim_server.url)
    out = freqtrade("hyperopt", "-c", str(cfg), "--datadir", str(sim_datadir / "binance"),
                    "--strategy-path", str(STRATEGIES), "--strategy", "LiqRiskSample", "--timerange", TIMERANGE,
                    "--spaces", "liqrisk", "--hyperopt-loss", "OnlyProfitHyperOptLoss", "-e", "3", "-j", "1",
                    "--disable-param-export", cwd=tmp_path)
    assert "liqrisk_veto_dist" in out, out[-4000:]
