import os

import pytest
from hypothesis import settings

from liqrisk._util import reset_warnings

# Property tests run the numba engine many times; deadlines would flag JIT warm-up.
settings.register_profile("liqrisk", deadline=None, max_examples=int(os.environ.get("LIQRISK_HYPOTHESIS_EXAMPLES", "40")))
settings.load_profile("liqrisk")


@pytest.fixture(autouse=True)
def _fresh_warnings():
    """Each test sees liqrisk's once-per-pair warnings afresh."""
    reset_warnings()
    yield
