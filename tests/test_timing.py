from __future__ import annotations

import pytest

from charlm.timing import seconds_per_call


def test_calls_the_function_number_times_repeat_plus_one_warm_up():
    calls = []
    seconds = seconds_per_call(lambda: calls.append(1), number=7, repeat=3)
    assert len(calls) == 7 * 3 + 1
    assert 0 <= seconds < 1


@pytest.mark.parametrize("number, repeat", [(0, 5), (5, 0)])
def test_at_least_one_call(number, repeat):
    with pytest.raises(ValueError, match="number and repeat"):
        seconds_per_call(lambda: None, number=number, repeat=repeat)
