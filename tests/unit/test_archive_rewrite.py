"""A tablespace archive as the server sends it, cut anywhere into COPY
messages, with or without its end-of-archive marker (15 and later send one,
12 to 14 do not): what goes on is the same tar, the manifest added last and
one marker of swiftwal's own; a truncated one is refused.  The upload limiter
keeps the average rate."""
from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swiftwal.adapters.replication import Tablespace
from swiftwal.adapters.streams import RateLimiter
from swiftwal.adapters.tablespace_backup import _ArchiveWriter
from swiftwal.domain.errors import IntegrityError


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()
        self.finished = False

    def write(self, data) -> None:
        self.data += bytes(data)

    def finish(self) -> None:
        self.finished = True


def server_tar(terminated: bool) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, content in (("backup_label", b"START WAL LOCATION: 0/2000028 (file "
                                               b"000000010000000000000002)\n"),
                              ("base/1/1259", bytes(range(256)) * 40), ("PG_VERSION", b"15\n")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    data = out.getvalue()
    if not terminated:
        data = data.rstrip(b"\0")
        data += bytes(-len(data) % 512)
    return data


def cut(data: bytes, cuts) -> list:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0] + points, points + [len(data)])]


@given(st.booleans(), st.lists(st.integers(0, 20000), max_size=12))
def test_the_archive_goes_on_whole_with_the_manifest_last(terminated, cuts):
    writer = _ArchiveWriter(Tablespace(None, None), "zstd")
    writer.pipe.close()
    writer.pipe = Collect()
    for piece in cut(server_tar(terminated), cuts):
        writer.write(memoryview(piece))
    manifest = b'{"PostgreSQL-Backup-Manifest-Version": 1}\n'
    writer.finish((("backup_manifest", io.BytesIO(manifest), len(manifest)),))
    assert writer.pipe.finished and writer.size == len(writer.pipe.data)
    with tarfile.open(fileobj=io.BytesIO(bytes(writer.pipe.data)), mode="r:") as archive:
        names = archive.getnames()
        assert names == ["backup_label", "base/1/1259", "PG_VERSION", "backup_manifest"]
        assert archive.extractfile("backup_manifest").read() == manifest
    assert "backup_label" in writer.scanner.captured


@given(st.integers(1, 4000))
def test_a_truncated_archive_is_refused(length):
    data = server_tar(False)
    writer = _ArchiveWriter(Tablespace(16384, "/srv/ts"), "zstd")
    writer.pipe.close()
    writer.pipe = Collect()
    writer.write(data[:len(data) - length])
    if writer.scanner.between_members and not writer._held:
        return  # cut at a member's end: a shorter archive, which the server's end vouches for
    with pytest.raises(IntegrityError):
        writer.finish()


def test_the_limiter_holds_the_average_rate():
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(1000, clock=lambda: now[0], sleep=sleep)
    for _ in range(10):
        limiter.spent(500)
    assert now[0] == pytest.approx(5.0)
