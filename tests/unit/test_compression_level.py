"""The compression level under a backlog of ``.ready`` segments
(``domain.compression_level``)."""
from __future__ import annotations

from hypothesis import example, given, strategies as st

from swiftwal.adapters.compression import LEVELS
from swiftwal.domain.compression_level import CALM, LADDERS, level_for_backlog

codecs = st.sampled_from(sorted(LADDERS))
waiting = st.integers(0, 1 << 40)


@st.composite
def configured(draw, codec: str) -> int:
    lowest, highest = LEVELS[codec]
    return draw(st.integers(lowest, highest).filter(bool))


@st.composite
def cases(draw):
    codec = draw(codecs)
    return codec, draw(configured(codec))


@given(cases(), st.integers(0, CALM))
def test_the_configured_level_is_kept_without_a_backlog(case, few):
    codec, level = case
    assert level_for_backlog(codec, level, few) == level


@given(cases(), waiting, waiting)
@example(("zstd", 1), CALM + 1, CALM)
@example(("zstd", 19), 1 << 40, CALM + 1)
def test_a_bigger_backlog_never_gets_a_slower_level(case, a, b):
    codec, level = case
    small, big = sorted((a, b))
    assert level_for_backlog(codec, level, big) <= level_for_backlog(codec, level, small)


@given(cases(), waiting)
def test_the_level_stays_between_the_fastest_rung_and_the_configured_level(case, backlog):
    codec, level = case
    chosen = level_for_backlog(codec, level, backlog)
    assert min(level, LADDERS[codec][-1]) <= chosen <= level
    assert chosen == level or chosen in LADDERS[codec]
    lowest, highest = LEVELS[codec]
    assert lowest <= chosen <= highest and chosen != 0  # zstd's 0 is its default, 3


@given(cases())
def test_a_long_enough_backlog_reaches_the_fastest_rung(case):
    codec, level = case
    assert level_for_backlog(codec, level, 1 << 40) == min(level, LADDERS[codec][-1])


def test_each_doubling_takes_one_rung_from_the_default():
    assert [level_for_backlog("zstd", 1, n) for n in (1, 4, 5, 8, 9, 16, 17, 1000)] == [
        1, 1, -1, -1, -5, -5, -5, -5]
    assert [level_for_backlog("zstd", 19, n) for n in (4, 5, 9, 17)] == [19, 3, 1, -1]
