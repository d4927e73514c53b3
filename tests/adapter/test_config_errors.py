"""A bad ``liqrisk`` section in the freqtrade config (#15) is freqtrade's one-line
"Configuration error: ..." naming the key and the expected type, not "Fatal exception!" with
a traceback, and not a cryptic ``ValueError``."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
from freqtrade.exceptions import ConfigurationError

import liqrisk
from liqrisk.adapter import columns
from tests.adapter.test_mixin import CONFIG, WithMixin
from tests.tools.exchange.conftest import FREQTRADE, REPO, ServerProcess, subprocess_env, write_datadir

BAD_SECTIONS = [
    ("not-a-dict", "notadict", ["'liqrisk' section must be a JSON object", "got str 'notadict'"]),
    ("a-number", 5, ["'liqrisk' section must be a JSON object", "got int 5"]),
    ("a-list", ["windows"], ["'liqrisk' section must be a JSON object", "got list"]),
    ("unknown-key", {"nope": 1}, ["unknown liqrisk config key(s) ['nope']"]),
    ("bad-window", {"windows": ["soon"]}, ["windows='soon' is not a duration"]),
    ("windows-not-a-list", {"windows": 5}, ["liqrisk settings"]),
    ("window-missing", {"windows": ["12h"]}, ["liqrisk_window='1d' is not one of the configured windows"]),
]


@pytest.mark.parametrize(("section", "words"), [c[1:] for c in BAD_SECTIONS], ids=[c[0] for c in BAD_SECTIONS])
def test_bad_section_is_a_configuration_error_naming_the_key(section, words):
    with pytest.raises(ConfigurationError) as e:
        columns.load_config(None, {"liqrisk": section}, "1d")
    assert isinstance(e.value, liqrisk.ConfigError)  # still liqrisk's own error for its callers
    for word in words:
        assert word in str(e.value), str(e.value)


def test_strategy_start_raises_the_configuration_error():
    with pytest.raises(ConfigurationError, match="'liqrisk' section must be a JSON object"):
        WithMixin({**CONFIG, "liqrisk": "notadict"})
    with pytest.raises(ConfigurationError, match="strategy's liqrisk_config must be a dict"):
        type("BadOwn", (WithMixin,), {"liqrisk_config": "1d"})(dict(CONFIG))


def test_freqtrade_backtesting_reports_one_configuration_error(tmp_path):
    """The real CLI: freqtrade reports it like its own config errors, without a traceback."""
    data = write_datadir(tmp_path / "data", pd.Timestamp.now(tz="UTC").floor("1h"), days=1)
    srv = ServerProcess(data, log=tmp_path / "server.log")
    try:
        cfg = json.loads((REPO / "user_data" / "config.offline.json").read_text()
                         .replace("http://127.0.0.1:8765", srv.url))
        cfg["exchange"]["pair_whitelist"] = ["BTC/USDT:USDT"]
        cfg["user_data_dir"] = str(tmp_path / "user_data")
        cfg["liqrisk"] = "notadict"
        (tmp_path / "user_data").mkdir()
        (tmp_path / "config.json").write_text(json.dumps(cfg))
        res = subprocess.run([FREQTRADE, "backtesting", "-c", str(tmp_path / "config.json"), "--datadir",
                              str(data / "binance"), "--strategy-path", str(REPO / "strategies"), "--strategy",
                              "LiqRiskSample"], cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                             timeout=300)
    finally:
        srv.stop()
    out = res.stdout + res.stderr
    assert "Configuration error: the freqtrade config's 'liqrisk' section must be a JSON object" in out, out[-3000:]
    assert "Traceback" not in out and "Fatal exception" not in out, out[-3000:]
