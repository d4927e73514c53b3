"""Example: the trend-pullback sample strategy with liqrisk's rules (``LiqRiskMixin``).

Compare with ``LiqRiskSampleBaseline`` (the same signals without the mixin)::

    freqtrade backtesting -c user_data/config.offline.json --strategy-path strategies \
        --strategy-list LiqRiskSample LiqRiskSampleBaseline --timerange 20241231-20250331
"""

from liqrisk.adapter import LiqRiskMixin
from liqrisk.adapter.sample import LiqRiskSampleBase


class LiqRiskSample(LiqRiskMixin, LiqRiskSampleBase):
    """LiqRiskSampleBase + LiqRiskMixin: the one line an operator adds."""
