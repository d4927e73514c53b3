import os

import pytest
from hypothesis import HealthCheck, settings

from liqrisk._util import reset_warnings

# Property tests run the numba engine many times; deadlines would flag JIT warm-up, and
# the too_slow health check fails on a loaded CI machine (speed is the benchmarks' job).
settings.register_profile("liqrisk", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          max_examples=int(os.environ.get("LIQRISK_HYPOTHESIS_EXAMPLES", "40")))
# CI (.ci/run sets LIQRISK_HYPOTHESIS_PROFILE=ci) draws the same examples on every run, so a
# red run is reproducible and never caused by a lucky draw; local runs keep exploring new
# ones (LIQRISK_HYPOTHESIS_EXAMPLES=2000 for a deeper search before a change lands).
settings.register_profile("ci", parent=settings.get_profile("liqrisk"), derandomize=True)
settings.load_profile(os.environ.get("LIQRISK_HYPOTHESIS_PROFILE", "liqrisk"))


@pytest.fixture(autouse=True)
def _fresh_warnings():
    """Each test sees liqrisk's once-per-pair warnings afresh."""
    reset_warnings()
    yield
