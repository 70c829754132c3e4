"""safe_extract against crafted and real tar archives, on a real file system."""
from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swiftwal.adapters.compression import compress_bytes
from swiftwal.adapters.untar import HOLD_SUFFIX, decompressing_reader, safe_extract
from swiftwal.domain.errors import IntegrityError, UnsafeArchive

# ---------------------------------------------------------------- building archives


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime = 1_700_000_000
    return info, data


def tar_bytes(members, fmt=tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return out.getvalue()


def snapshot(directory: Path) -> dict:
    """Everything under ``directory``: type, content or link target, mode."""
    seen = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                seen[str(path.relative_to(directory))] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                seen[str(path.relative_to(directory))] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                seen[str(path.relative_to(directory))] = (
                    "file", path.read_bytes(), stat.S_IMODE(info.st_mode), info.st_nlink > 1)
    return seen


@pytest.fixture
def sandbox(tmp_path):
    """``(parent, target)``: the target is empty; the parent holds a bait file to overwrite."""
    parent = tmp_path / "parent"
    target = parent / "target"
    target.mkdir(parents=True)
    (parent / "bait").write_bytes(b"untouched")
    return parent, target


# ---------------------------------------------------------------- hypothesis strategies

segment = st.text("abcdefgh_", min_size=1, max_size=6)
safe_path = st.lists(segment, min_size=1, max_size=3).map("/".join)
safe_members = st.lists(
    st.one_of(st.tuples(safe_path, st.binary(max_size=300)).map(
        lambda t: member("data/" + t[0], data=t[1])),
              safe_path.map(lambda p: member("dirs/" + p, tarfile.DIRTYPE))),
    max_size=6)


def unsafe_members(parent: Path):
    """Members, each of which must make the whole extraction refuse."""
    outside = str(parent / "bait")
    dotdots = st.builds(lambda depth, tail: "/".join([".."] * depth + [tail]),
                        st.integers(1, 3), segment)
    return st.one_of(
        st.just(member(outside, data=b"evil")),                             # absolute path
        st.builds(lambda p: member(p, data=b"evil"), dotdots),              # ../
        st.builds(lambda p: member("a/../" + p, data=b"evil"), dotdots),    # a/../../
        st.just(member("ln", tarfile.SYMTYPE, link=outside)),               # absolute link
        st.builds(lambda p: member("ln", tarfile.SYMTYPE, link=p), dotdots),
        st.builds(lambda p: member("deep/er/ln", tarfile.SYMTYPE, link="../../" + p), dotdots),
        st.just(member("hard", tarfile.LNKTYPE, link=outside)),            # hard links
        st.builds(lambda p: member("hard", tarfile.LNKTYPE, link=p), dotdots),
        st.just(member("dev", tarfile.CHRTYPE)),
        st.just(member("blk", tarfile.BLKTYPE)),
        st.just(member("fifo", tarfile.FIFOTYPE)),
    )


def dot_link_escape():
    """Lexically inside, really outside: ``here -> .`` then ``up -> here/../bait``."""
    return [member("here", tarfile.SYMTYPE, link="."),
            member("up", tarfile.SYMTYPE, link="here/../bait")]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), fmt=st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT,
                                            tarfile.USTAR_FORMAT]))
def test_every_unsafe_archive_is_refused_and_nothing_escapes(data, fmt):
    # tmpfs when there is one: 150 examples of mkdir/rmdir on a busy disk take long.
    # ``..`` goes up at most 3 levels: even a broken extractor writes only inside scratch
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) \
            as scratch:
        parent = Path(scratch) / "outer" / "parent"
        target = parent / "target"
        target.mkdir(parents=True)
        (parent / "bait").write_bytes(b"untouched")
        ancestors = [Path(scratch), parent.parent, parent]
        modes = [a.stat().st_mode for a in ancestors]
        bad = data.draw(st.one_of(unsafe_members(parent).map(lambda m: [m]),
                                  st.just(dot_link_escape())))
        members = data.draw(safe_members) + bad + data.draw(safe_members)
        try:
            blob = tar_bytes(members, fmt)
        except ValueError:  # a name the format cannot hold (ustar, long names)
            return
        with pytest.raises(UnsafeArchive) as refused:
            safe_extract(io.BytesIO(blob), str(target))
        assert "unsafe archive member" in str(refused.value)
        assert os.listdir(scratch) == ["outer"]
        assert os.listdir(parent.parent) == ["parent"]
        assert sorted(os.listdir(parent)) == ["bait", "target"]
        assert (parent / "bait").read_bytes() == b"untouched"
        assert [a.stat().st_mode for a in ancestors] == modes
        for root, dirs, files in os.walk(target):
            for name in dirs + files:
                path = Path(root, name)
                if path.is_symlink():
                    resolved = path.resolve()
                    assert resolved == target or target in resolved.parents, path
                assert not stat.S_ISCHR(path.lstat().st_mode)
                assert not stat.S_ISFIFO(path.lstat().st_mode)


def test_a_normal_tree_extracts_identically_to_tar(tmp_path):
    source = tmp_path / "source"
    (source / "base" / "1").mkdir(parents=True)
    (source / "global").mkdir()
    (source / "empty").mkdir()
    (source / "PG_VERSION").write_bytes(b"15\n")
    (source / "global" / "pg_control").write_bytes(os.urandom(8192))
    (source / "base" / "1" / "1259").write_bytes(os.urandom(300_000) + bytes(5_000_000))
    long_dir = source / ("d" * 90) / ("e" * 90)
    long_dir.mkdir(parents=True)
    (long_dir / ("f" * 90)).write_bytes(b"long path")
    (source / "rel-link").symlink_to("base/1/1259")
    (source / "base" / "dir-link").symlink_to("../global")
    os.link(source / "PG_VERSION", source / "hard")
    blob = subprocess.run(["tar", "-C", str(source), "-cf", "-", "."], capture_output=True,
                          check=True).stdout
    expected = tmp_path / "expected"
    expected.mkdir()
    subprocess.run(["tar", "-C", str(expected), "-xf", "-"], input=blob, check=True)
    target = tmp_path / "target"
    target.mkdir()

    stats = safe_extract(io.BytesIO(blob), str(target))

    ours, theirs = snapshot(target), snapshot(expected)
    assert ours.keys() == theirs.keys()
    for name, entry in ours.items():
        if entry[0] == "file":
            assert entry[1] == theirs[name][1], name
            assert entry[2] == 0o600, name
        elif entry[0] == "dir":
            assert entry[1] == 0o700, name
        else:
            assert entry == theirs[name]
    assert ours["hard"][3] and ours["PG_VERSION"][3]  # still one file, two names
    assert (stats.files, stats.symlinks, stats.hardlinks) == (4, 2, 1)
    assert stats.bytes == sum(len(e[1]) for e in theirs.values() if e[0] == "file") - 3


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_decompress_then_extract_streams(tmp_path, codec):
    blob = tar_bytes([member("PG_VERSION", data=b"15\n"),
                      member("base/1/2", data=os.urandom(1000) * 3000)])
    target = tmp_path / "t"
    target.mkdir()
    compressed = compress_bytes(codec, blob)
    safe_extract(decompressing_reader(codec, io.BytesIO(compressed)), str(target))
    assert (target / "PG_VERSION").read_bytes() == b"15\n"
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    with pytest.raises(IntegrityError):
        safe_extract(decompressing_reader(codec, io.BytesIO(compressed[:-10])), str(truncated))
    assert not (truncated / "PG_VERSION").exists()


def test_an_interrupted_restore_leaves_no_pg_version_nor_pg_control(sandbox):
    _, target = sandbox
    blob = tar_bytes([member("PG_VERSION", data=b"15\n"),
                      member("global/pg_control", data=os.urandom(8192)),
                      member("base/1/1259", data=os.urandom(200_000))])
    with pytest.raises(IntegrityError):
        safe_extract(io.BytesIO(blob[:len(blob) - 100_000]), str(target))
    assert not (target / "PG_VERSION").exists()
    assert not (target / "global" / "pg_control").exists()
    assert (target / ("PG_VERSION" + HOLD_SUFFIX)).exists()


def test_before_commit_can_veto_and_runs_after_everything_is_written(sandbox):
    _, target = sandbox
    blob = tar_bytes([member("PG_VERSION", data=b"15\n"), member("base/x", data=b"x")])
    seen = []

    def veto():
        seen.append(sorted(os.listdir(target)))
        raise IntegrityError("checksum mismatch")

    with pytest.raises(IntegrityError, match="checksum"):
        safe_extract(io.BytesIO(blob), str(target), before_commit=veto)
    assert seen == [sorted(["PG_VERSION" + HOLD_SUFFIX, "base"])]
    assert not (target / "PG_VERSION").exists()


@pytest.mark.parametrize("members", [
    [member("x", data=b"1"), member("x", data=b"2")],                  # duplicate
    [member("x", data=b"1"), member("x/y", data=b"2")],                # file used as a directory
    [member("PG_VERSION", tarfile.SYMTYPE, link="base")],              # held-back name, not a file
    [member("l", tarfile.SYMTYPE, link="a"), member("l/f", data=b"")],  # through a symlink
])
def test_clashing_members_are_refused(sandbox, members):
    parent, target = sandbox
    with pytest.raises(UnsafeArchive):
        safe_extract(io.BytesIO(tar_bytes(members)), str(target))
    assert sorted(os.listdir(parent)) == ["bait", "target"]


def test_garbage_is_an_integrity_error(sandbox):
    _, target = sandbox
    with pytest.raises(IntegrityError):
        safe_extract(io.BytesIO(os.urandom(5000)), str(target))
    with pytest.raises(IntegrityError):
        safe_extract(io.BytesIO(b""), str(target))
