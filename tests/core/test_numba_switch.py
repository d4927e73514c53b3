"""``LIQRISK_DISABLE_NUMBA=1``: every kernel runs as plain Python and gives the compiled results.

The plain run happens in a child process (the switch is read at import); the compiled
run in this one. They run the same kernel source, so they agree to rounding: numba and
NumPy may call different ``exp``/``log`` implementations, a last-bit difference.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liqrisk.core import _numba

PAIR = "BTC/USDT:USDT"
#: 2025-01-01 07:00 UTC: the simulated two hours cross an hourly snapshot and the 08:00 funding.
SIM_START_MS = 1_735_714_800_000


def _outputs() -> dict[str, np.ndarray]:
    """Small runs of every kernel family: batch features, live steps, the simulator."""
    from liqrisk import LiveFeatures, compute_features
    from liqrisk.core.synthetic import random_market
    from liqrisk.tools.sim.pair_market import PairMarket

    m = random_market(200, seed=3)
    aux = {k: m[k] for k in ("open_interest", "funding_rate", "mark")}
    cfg = {"windows": ["2h", "6h"]}
    out = {"features": compute_features(m["ohlcv"], pair=PAIR, config=cfg, **aux).to_numpy(float)}

    live = LiveFeatures(pair=PAIR, config=cfg)
    for end in (190, 195, 200):  # one full run, then two steps of 5 candles
        last = m["ohlcv"]["date"].iloc[end - 1]
        feats = live.update(m["ohlcv"].iloc[:end], **{k: v[v["date"] <= last] for k, v in aux.items()})
    assert live.steps == 2
    out["live"] = feats.to_numpy(float)

    # xoshiro256** relies on uint64 wrap-around: NumPy scalars wrap too, but warn about it.
    with np.errstate(over="ignore"):
        block = PairMarket(PAIR, 1, SIM_START_MS, cohorts_per_minute=30.0).advance(120)
    for name in ("fut", "mark", "oi", "index", "liq_ms", "liq_id", "liq_mark", "funding_ms", "funding_rate",
                 "snap_ms", "snap_side", "snap_bucket", "snap_usd"):
        out[f"sim_{name}"] = getattr(block, name)
    return out


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict[str, np.ndarray]:
    path = tmp_path_factory.mktemp("numba_switch") / "plain.npz"
    env = {**os.environ, _numba.DISABLE_ENV: "1"}
    proc = subprocess.run([sys.executable, __file__, str(path)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "plain", proc.stdout
    assert proc.stderr.count(_numba.DISABLE_ENV) == 1, proc.stderr  # told once, not per kernel
    with np.load(path) as z:
        return dict(z)


@pytest.mark.skipif(not _numba.ENABLED, reason="this process runs the plain path too: nothing to compare")
def test_plain_python_path_equals_compiled(plain):
    compiled = _outputs()
    assert set(plain) == set(compiled)
    for name, want in compiled.items():
        got = plain[name]
        assert got.shape == want.shape and got.dtype == want.dtype, name
        if np.issubdtype(want.dtype, np.floating):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0.0, equal_nan=True, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
    # Not vacuous: clusters, liquidations and truth rows exist.
    assert np.nanmax(compiled["features"]) > 0 and compiled["sim_liq_ms"].size and compiled["sim_snap_ms"].size


if __name__ == "__main__":  # the child process of the ``plain`` fixture
    from liqrisk.tools.sim import cohort_kernels

    # The switch took: kernels are the Python functions themselves, not numba dispatchers.
    assert not _numba.ENABLED and not hasattr(cohort_kernels.simulate_minutes, "py_func")
    np.savez(sys.argv[1], **_outputs())
    print("plain")
