"""Example: the trend-pullback sample strategy *without* liqrisk (the baseline for
``LiqRiskSample``)."""

from liqrisk.adapter.sample import LiqRiskSampleBase


class LiqRiskSampleBaseline(LiqRiskSampleBase):
    """The signals of LiqRiskSample, no liqrisk rules."""
