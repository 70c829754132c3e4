"""``--keep-days`` as a recovery window (``domain.keep_days``)."""
from __future__ import annotations

import math

import pytest
from hypothesis import example, given, strategies as st

from swiftwal.domain.errors import UsageError
from swiftwal.domain.keep_days import MAX_DAYS, window_of


@given(st.floats(0, MAX_DAYS))
@example(0.0)
@example(float(MAX_DAYS))
def test_a_number_of_days_is_that_long_a_window(days):
    assert math.isclose(window_of(days).total_seconds(), days * 86400, abs_tol=1e-6)


@given(st.floats(allow_nan=True).filter(lambda d: not 0 <= d <= MAX_DAYS))
@example(math.nan)
@example(-0.001)
@example(MAX_DAYS + 0.001)
def test_anything_else_is_a_usage_error_naming_the_option(days):
    with pytest.raises(UsageError, match="--keep-days"):
        window_of(days)


def test_no_option_no_window():
    assert window_of(None) is None
