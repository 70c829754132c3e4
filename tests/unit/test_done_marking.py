"""When the archive worker may mark a segment stored ahead ``.done``
(``swiftwal.domain.done_marking``): never the segment PostgreSQL's archiver
is calling for, checked against a model of that archiver."""
from __future__ import annotations

from hypothesis import given, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from swiftwal.domain.done_marking import OLDER_READY, may_mark_done
from swiftwal.domain.walnames import BackupHistoryFile, HistoryFile, PartialSegment, Segment
from tests.unit.strategies import segments, timelines

names = segments().map(str)
ready_sets = st.lists(names, max_size=8, unique=True)
not_segments = st.one_of(
    timelines.map(lambda t: str(HistoryFile(t))),
    segments().map(lambda s: str(PartialSegment(s))),
    st.builds(lambda s, o: str(BackupHistoryFile(s, o)), segments(), st.integers(0, 0xFFFFFF)))


@given(ready_sets)
def test_the_oldest_ready_segments_the_archiver_takes_next_are_never_marked(ready):
    for segment in sorted(ready)[:OLDER_READY]:
        assert not may_mark_done(segment, ready, requested=False)


@given(names, ready_sets)
def test_marked_only_while_older_segments_are_still_ready(segment, ready):
    older = [name for name in ready if name < segment]
    assert may_mark_done(segment, ready, requested=False) == (len(older) >= OLDER_READY)
    assert may_mark_done(segment, ready + older, requested=False) == (
        len(older) >= OLDER_READY), "a name listed twice counts once"


@given(names, ready_sets)
def test_a_segment_a_call_waits_for_is_never_marked(segment, ready):
    older = ["000000010000000000000000", "000000010000000000000001"]
    assert not may_mark_done(segment, ready + older, requested=True)


@given(names, ready_sets, st.lists(not_segments, max_size=4), st.randoms())
def test_history_backup_and_partial_files_are_no_evidence_and_order_does_not_matter(
        segment, ready, others, random):
    shuffled = ready + others
    random.shuffle(shuffled)
    assert may_mark_done(segment, shuffled, False) == may_mark_done(segment, ready, False)


@given(st.integers(1, 0xFFFFFFF), st.integers(0, 0xFFFFFFFD))
def test_an_older_timeline_counts_as_older_as_the_archiver_orders_names(timeline, number):
    older = [str(Segment.from_number(timeline, number + n)) for n in (1, 2)]
    newer = str(Segment.from_number(timeline + 1, number))
    assert may_mark_done(newer, older + [newer], False)
    assert not may_mark_done(older[-1], older + [newer], False)


class ArchiverAndWorker(RuleBasedStateMachine):
    """PostgreSQL 15+'s archiver as pgarch.c has it: one scan of
    archive_status keeps the highest-priority names (history files first,
    then byte order), each is looked at again (``stat``) just before its
    call, the call ends with the rename ``.ready`` -> ``.done``, which warns
    when the file has gone.  Segments are marked ``.ready`` in order; history
    and backup history files at any time (a history file forces a new scan).
    The worker marks any segment at any moment, through ``may_mark_done``,
    before the call that asks for it has told it so (``requested`` false):
    the rename the archiver does after its call must never find its
    ``.ready`` gone."""

    SCAN = 3  # PostgreSQL keeps 64: fewer, so that scans run out and repeat

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str] = {}
        self.next_number = 0
        self.kept: list[str] = []  # from the last scan, highest priority last
        self.calling: str | None = None
        self.warnings = 0
        self.calls = 0

    def ready(self) -> list[str]:
        return [name for name, state in self.status.items() if state == "ready"]

    @rule()
    def segment_completed(self) -> None:
        self.next_number += 1
        self.status[str(Segment.from_number(1, self.next_number))] = "ready"

    @precondition(lambda self: self.next_number > 0)
    @rule(data=st.data())
    def backup_stopped(self, data) -> None:
        first = data.draw(st.integers(1, self.next_number))
        self.status[str(BackupHistoryFile(Segment.from_number(1, first), 0x28))] = "ready"

    @rule()
    def history_written(self) -> None:
        self.status[str(HistoryFile(2))] = self.status.get(str(HistoryFile(2)), "ready")
        self.kept = []  # PgArchForceDirScan

    @precondition(lambda self: self.calling is None)
    @rule()
    def archiver_takes_the_next(self) -> None:
        while self.kept:
            name = self.kept.pop()
            if self.status.get(name) == "ready":
                self.calling = name
                self.calls += 1
                return
        priority = sorted(self.ready(), key=lambda n: (not n.endswith(".history"), n))
        self.kept = list(reversed(priority[:self.SCAN]))
        if self.kept:
            self.calling = self.kept.pop()
            self.calls += 1

    @precondition(lambda self: self.calling is not None)
    @rule()
    def archive_command_returned(self) -> None:
        if self.status.get(self.calling) != "ready":
            self.warnings += 1  # could not rename file ... .ready ... .done
        self.status[self.calling] = "done"
        self.calling = None

    @precondition(lambda self: any(len(n) == 24 for n in self.ready()))
    @rule(data=st.data())
    def worker_stored_one_ahead(self, data) -> None:
        segment = data.draw(st.sampled_from(sorted(n for n in self.ready() if len(n) == 24)))
        if may_mark_done(segment, self.ready(), requested=False):
            self.status[segment] = "done"

    @invariant()
    def the_archiver_never_finds_its_ready_file_gone(self) -> None:
        assert self.warnings == 0


TestArchiverAndWorker = ArchiverAndWorker.TestCase


def test_a_backlog_leaves_calls_out():
    """Every segment but the two oldest of a backlog may be marked at once."""
    backlog = [str(Segment.from_number(1, n)) for n in range(1, 9)]
    assert [may_mark_done(s, backlog, False) for s in backlog] == [False] * 2 + [True] * 6
