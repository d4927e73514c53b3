"""Calibration on the shared daily data set (skipped without ../shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "calibration" / "coinglass-daily"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"calibration data not available at {DATA} "
                                "(internal reference set, not shipped with liqrisk)")


def test_daily_alignment_and_fitted_params_beat_defaults_in_sample():
    import json

    from liqrisk.tools.validate.calibration import (
        TEST,
        TRAIN,
        Params,
        evaluate_params,
        load_daily_markets,
        objective,
        report,
    )

    markets = load_daily_markets(DATA, ["BTC", "ETH"])
    btc = markets["BTC"]
    assert btc.actual["date"].min().year == 2020 and (btc.ohlcv[["open", "high", "low", "close"]] > 0).all().all()
    assert btc.funding_rate["funding_rate"].abs().median() < 0.01  # percent was converted to a fraction
    fitted = Params(**json.loads((Path(__file__).resolve().parents[3] / "liqrisk" / "calibrated.json")
                                 .read_text())["params"])
    runs = evaluate_params(markets, fitted)
    assert objective(runs, TRAIN) > objective(evaluate_params(markets, Params(window="2w")), TRAIN) - 0.01
    table = report(runs, {"train": TRAIN, "test": TEST})
    assert len(table) == 2 * 2 * 2 and np.isfinite(table["spearman"]).all()
    assert (table["partial_spearman"] > 0).all()  # the map adds information beyond the best baseline
    # The target, out of sample: the estimate ranks days better than the best map-free baseline.
    test = table[table["period"] == "test"]
    assert (test["spearman"] > test["baseline_spearman"]).all(), test.to_string()


def test_cli_calibrate_no_fit(tmp_path, capsys):
    from liqrisk.cli import main

    out = tmp_path / "cal.json"
    assert main(["calibrate", "--data", str(DATA), "--coins", "BTC", "--no-fit", "--out", str(out)]) == 0
    assert "mean Spearman" in capsys.readouterr().out
    assert out.is_file()


def test_cli_calibrate_missing_folder(capsys):
    from liqrisk.cli import main

    assert main(["calibrate", "--data", "/nonexistent/folder"]) == 2
    assert "no such folder" in capsys.readouterr().err
