import os

import pytest
from hypothesis import HealthCheck, settings

from liqrisk._util import reset_warnings

# Property tests run the numba engine many times; deadlines would flag JIT warm-up, and
# the too_slow health check fails on a loaded CI machine (speed is the benchmarks' job).
settings.register_profile("liqrisk", deadline=None, suppress_health_check=[HealthCheck.too_slow],
                          max_examples=int(os.environ.get("LIQRISK_HYPOTHESIS_EXAMPLES", "40")))
settings.load_profile("liqrisk")


@pytest.fixture(autouse=True)
def _fresh_warnings():
    """Each test sees liqrisk's once-per-pair warnings afresh."""
    reset_warnings()
    yield
