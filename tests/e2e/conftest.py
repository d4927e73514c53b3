"""End-to-end fixtures: real ``liqrisk exchange`` and ``freqtrade`` processes on 127.0.0.1.

Everything is bounded in time and stopped in ``finally`` clauses; every process runs in the test's
temporary folder. The processes are started with ``liqrisk.tools.demo`` (the library ``liqrisk
demo`` uses), so these tests also exercise it.
"""

from __future__ import annotations

import base64
import json
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from liqrisk.tools.demo.freqtrade_run import load_config, point_config, write_config
from liqrisk.tools.demo.processes import freqtrade_command, log_tail, parent_death_preexec, subprocess_env

REPO = Path(__file__).resolve().parents[2]
STRATEGIES = Path(__file__).parent / "strategies"
API_USER = "e2e"
API_PASSWORD = "e2e-test-password"  # loopback-only test bot, never a real secret


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end test with real processes (minutes); -m 'not e2e' skips")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


def dry_run_config(url: str, pairs: list[str], tmp: Path, api_port: int, **overrides) -> Path:
    """user_data/config.offline.json for a 1m dry-run bot against ``url``, with its REST API on ``api_port``.

    Market orders at the other side of the book, so entries fill at once; a stake above
    Binance's minimum notional with the 20 % stop reserve (BTC needs about 131 USDT).
    """
    cfg = point_config(load_config(REPO / "user_data" / "config.offline.json"), url, pairs=pairs)
    (tmp / "user_data").mkdir(exist_ok=True)
    cfg.update(
        user_data_dir=str(tmp / "user_data"),
        timeframe="1m",
        stake_amount=200,
        max_open_trades=len(pairs),
        dry_run_wallet=1000,
        order_types={"entry": "market", "exit": "market", "stoploss": "market", "stoploss_on_exchange": False},
        internals={"process_throttle_secs": 3},
        api_server={
            "enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": api_port, "verbosity": "error",
            "enable_openapi": False, "jwt_secret_key": "e2e-jwt-secret-e2e-jwt-secret-0123456789",
            "ws_token": "e2e-ws-token-e2e-ws-token-0123456789", "CORS_origins": [],
            "username": API_USER, "password": API_PASSWORD,
        },
    )
    cfg["entry_pricing"]["price_side"] = "other"
    cfg["exit_pricing"]["price_side"] = "other"
    cfg.update(overrides)
    return write_config(cfg, tmp, "dry_run_config.json")


#: Seconds a bot may take to exit after SIGINT (issue #15); the harness waits longer
#: (``STOP_WAIT_S``) so that a slow stop is measured and reported instead of killed.
STOP_LIMIT_S = 10.0
STOP_WAIT_S = 30.0


def bot_preexec():
    """The demo's own ``preexec_fn``: SIGINT's default action back (a harness started with
    SIGINT ignored passes the ignore on, and the bot would never see the harness's SIGINT;
    issue #15), then the parent-death signal."""
    return parent_death_preexec()


def bot_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The children's environment; ``PYTHONFAULTHANDLER`` so a SIGABRT writes every thread's stack."""
    env = subprocess_env()
    env["PYTHONFAULTHANDLER"] = "1"
    env.update(extra or {})
    return env


class Bot:
    """``freqtrade trade`` (dry-run) in a subprocess, with its REST API; stopped with SIGINT.

    ``stop_s`` is how long it took to exit after ``interrupt()``; a bot still running
    ``STOP_WAIT_S`` after SIGINT gets SIGABRT (its log then ends with every thread's stack,
    from ``PYTHONFAULTHANDLER``), then SIGKILL.
    """

    def __init__(self, config: Path, strategy: str, tmp: Path, api_port: int, strategy_path: Path = STRATEGIES,
                 env: dict[str, str] | None = None):
        self.api = f"http://127.0.0.1:{api_port}/api/v1"
        self.log = tmp / "freqtrade.log"  # the bot's stdout and stderr: its whole log
        self.db = tmp / "trades.sqlite"
        cmd = [*freqtrade_command(), "trade", "--config", str(config), "--strategy", strategy,
               "--strategy-path", str(strategy_path), "--db-url", f"sqlite:///{self.db}"]
        self._out_fh = self.log.open("w")
        self.proc = subprocess.Popen(cmd, cwd=tmp, env=bot_env(env), stdout=self._out_fh,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=bot_preexec())
        self.interrupted_at: float | None = None
        self.stop_s: float | None = None
        self.exited_wall: float | None = None  # time.time() when the exit was seen
        self._auth = "Basic " + base64.b64encode(f"{API_USER}:{API_PASSWORD}".encode()).decode()

    def get(self, path: str, timeout: float = 5.0):
        req = urllib.request.Request(f"{self.api}/{path}", headers={"Authorization": self._auth})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def try_get(self, path: str):
        try:
            return self.get(path)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_api(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"freqtrade exited with {self.proc.returncode}:\n{self.tail()}")
            if self.try_get("ping") is not None:
                return
            time.sleep(0.5)
        raise RuntimeError(f"freqtrade's API did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines)

    def interrupt(self) -> None:
        """Send SIGINT (once) if the bot still runs; ``stop`` waits for it."""
        if self.proc.poll() is None and self.interrupted_at is None:
            self.interrupted_at = time.monotonic()
            self.proc.send_signal(signal.SIGINT)

    def stop(self) -> int | None:
        self.interrupt()
        if self.interrupted_at is not None:
            self.poll_stopped()
            try:
                self.proc.wait(timeout=max(0.0, STOP_WAIT_S - (time.monotonic() - self.interrupted_at)))
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGABRT)  # faulthandler: stacks into the log
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.poll_stopped()
        if not self._out_fh.closed:
            self._out_fh.close()
        return self.proc.returncode

    def poll_stopped(self) -> bool:
        """True once the bot has exited; records ``stop_s`` the first time it sees the exit."""
        if self.proc.poll() is None:
            return False
        if self.stop_s is None and self.interrupted_at is not None:
            self.stop_s = time.monotonic() - self.interrupted_at
            self.exited_wall = time.time()
        return True

    def trades_in_db(self) -> list[dict]:
        with sqlite3.connect(self.db) as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT id, pair, is_open, amount, open_rate, stop_loss, initial_stop_loss, "
                               "exit_reason, close_rate FROM trades ORDER BY id").fetchall()
        return [dict(r) for r in rows]


def stop_bots(bots) -> dict[int, int | None]:
    """SIGINT to every bot at once, then wait for all (each one's ``stop_s`` is its own);
    returns the exit codes by pid."""
    bots = list(bots)
    for bot in bots:
        bot.interrupt()
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline and not all([b.poll_stopped() for b in bots]):
        time.sleep(0.05)
    return {b.proc.pid: b.stop() for b in bots}


def processes_with(text: str) -> list[int]:
    """Pids of running processes whose command line contains ``text``."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(text in part for part in (p.info["cmdline"] or [])):
                found.append(p.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
