"""Calibration on the shared real data sets (skipped without ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
DATA = SHARED / "calibration" / "coinglass-daily"
INTRADAY = SHARED / "real-intraday"
pytestmark = pytest.mark.skipif(not (DATA.is_dir() and INTRADAY.is_dir()),
                                reason=f"real data sets not available under {SHARED} "
                                "(internal reference sets, not shipped with liqrisk)")


def test_daily_alignment():
    from liqrisk.tools.validate.daily_set import load_daily_markets

    btc = load_daily_markets(DATA, ["BTC"])["BTC"]
    assert btc.actual["date"].min().year == 2020 and (btc.ohlcv[["open", "high", "low", "close"]] > 0).all().all()
    assert btc.funding_rate["funding_rate"].abs().median() < 0.01  # percent was converted to a fraction


def test_defaults_beat_the_baseline_out_of_sample_where_bots_trade():
    # The target on the intraday sets' test parts, with LiqConfig()'s defaults.
    from liqrisk.tools.validate.calibration import report
    from liqrisk.tools.validate.real_sets import load_real_sets, run_series

    series = load_real_sets(None, INTRADAY)
    table = report([run_series(s) for s in series])
    test = table[table["part"] == "test"]
    assert len(test) == 2 * len(series) and test["beats_baseline"].all(), test.to_string()
    assert test["margin"].mean() >= 0.03
    longs = test[test["side"] == "long"]
    assert (longs["spearman"] >= 0.80).all(), longs.to_string()


def test_record_matches_a_fresh_score_of_its_parameters(tmp_path, capsys):
    # calibrated.json's figures are reproducible from its own parameters (BTC daily + intraday).
    from liqrisk.cli import main

    out = tmp_path / "cal.json"
    assert main(["calibrate", "--data", str(DATA), "--intraday", str(INTRADAY), "--coins", "BTC", "--no-fit",
                 "--out", str(out)]) == 0
    assert "mean Spearman" in capsys.readouterr().out
    fresh = json.loads(out.read_text())
    record = json.loads((Path(__file__).resolve().parents[3] / "liqrisk" / "calibrated.json").read_text())
    rows = {(r["set"], r["coin"], r["part"], r["side"]): r["spearman"] for r in record["rows"]}
    for r in fresh["rows"]:
        assert r["spearman"] == pytest.approx(rows[(r["set"], r["coin"], r["part"], r["side"])], abs=1e-3)


def test_cli_calibrate_missing_folder(capsys):
    from liqrisk.cli import main

    assert main(["calibrate", "--data", "/nonexistent/folder"]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["calibrate", "--passes", "-1"]) == 2
    assert "--passes" in capsys.readouterr().err
