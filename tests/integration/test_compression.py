"""Compression codecs against the real tools (pigz, zstd) and libraries (zlib, zstandard)."""
from __future__ import annotations

import io
import os
import subprocess
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from swiftwal.adapters import compression
from swiftwal.adapters.compress_stream import compressing_pipe
from swiftwal.adapters.compression import (CODECS, SUFFIXES, codec_from_suffix, compress_bytes,
                                           decompress_bytes, decompressing_reader)
from swiftwal.domain.errors import ConfigError, IntegrityError, ToolFailed, UsageError

codecs = st.sampled_from(CODECS)
# runs of one byte, as in WAL and empty pages, mixed with incompressible noise
payloads = st.lists(st.one_of(st.binary(max_size=3000),
                              st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=2),
                                        st.integers(0, 200_000))),
                    max_size=6).map(b"".join)
slow = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def read_all(reader, size: int) -> bytes:
    parts = []
    while True:
        chunk = reader.read(size)
        if not chunk:
            return b"".join(parts)
        assert len(chunk) <= size
        parts.append(chunk)


def through_pipe(codec: str, data: bytes, write_size: int = 10_000) -> bytes:
    pipe = compressing_pipe(codec)

    def produce():
        for start in range(0, len(data), write_size):
            pipe.write(data[start:start + write_size])
        pipe.finish()

    producer = threading.Thread(target=produce)
    producer.start()
    out = read_all(pipe, 65536)
    producer.join()
    return out


@slow
@given(codec=codecs, data=payloads)
@example(codec="gzip", data=b"")
@example(codec="zstd", data=b"")
def test_bytes_round_trip(codec, data):
    assert decompress_bytes(codec, compress_bytes(codec, data)) == data


@slow
@given(codec=codecs, data=payloads, read_size=st.integers(1, 100_000))
def test_in_process_and_streaming_paths_agree(codec, data, read_size):
    compressed = through_pipe(codec, data)
    assert decompress_bytes(codec, compressed) == data
    assert read_all(decompressing_reader(codec, io.BytesIO(compressed)), read_size) == data
    whole = compress_bytes(codec, data)
    assert read_all(decompressing_reader(codec, io.BytesIO(whole + whole)), read_size) == data * 2


@slow
@given(codec=codecs, data=payloads, cut=st.floats(0, 1, exclude_max=True))
def test_truncated_data_never_decompresses_quietly(codec, data, cut):
    compressed = compress_bytes(codec, data)
    short = compressed[:int(len(compressed) * cut)]
    with pytest.raises(IntegrityError):
        decompress_bytes(codec, short)
    with pytest.raises(IntegrityError):
        read_all(decompressing_reader(codec, io.BytesIO(short)), 65536)


@pytest.mark.parametrize("codec", CODECS)
def test_corrupt_data_is_an_integrity_error(codec):
    data = os.urandom(50_000) * 3
    compressed = bytearray(compress_bytes(codec, data))
    compressed[len(compressed) // 2] ^= 0x40
    with pytest.raises(IntegrityError):
        decompress_bytes(codec, bytes(compressed))
    with pytest.raises(IntegrityError):
        read_all(decompressing_reader(codec, io.BytesIO(bytes(compressed))), 65536)


@pytest.mark.parametrize("codec, tool", [("gzip", ["pigz", "-c"]), ("gzip", ["gzip", "-c"]),
                                         ("zstd", ["zstd", "-q", "-T0", "-c"])])
def test_files_of_the_command_line_tools_decompress(codec, tool):
    data = os.urandom(100_000) + bytes(3_000_000) + b"wal" * 50_000
    compressed = subprocess.run(tool, input=data, capture_output=True, check=True).stdout
    assert decompress_bytes(codec, compressed) == data
    assert read_all(decompressing_reader(codec, io.BytesIO(compressed)), 1 << 20) == data


@pytest.mark.parametrize("codec, tool", [("gzip", ["pigz", "-d", "-c"]),
                                         ("zstd", ["zstd", "-q", "-d", "-c"])])
def test_the_command_line_tools_read_our_output(codec, tool):
    data = os.urandom(100_000) + bytes(2_000_000)
    for compressed in (compress_bytes(codec, data), through_pipe(codec, data)):
        done = subprocess.run(tool, input=compressed, capture_output=True, check=True)
        assert done.stdout == data


@pytest.mark.parametrize("codec", CODECS)
def test_reads_stay_bounded_on_highly_compressible_data(codec):
    """256 MiB of zeros compress to a few hundred KiB: one read must not inflate them all."""
    zeros = bytes(1 << 20)
    compressed = through_pipe(codec, zeros * 256, write_size=1 << 20)
    assert len(compressed) < 2 << 20
    reader = decompressing_reader(codec, io.BytesIO(compressed))
    total = 0
    for chunk in iter(lambda: reader.read(1 << 20), b""):
        assert len(chunk) <= 1 << 20
        total += len(chunk)
    assert total == 256 << 20


def test_abort_makes_the_reader_raise_instead_of_ending():
    for codec in CODECS:
        pipe = compressing_pipe(codec)
        pipe.write(os.urandom(100_000))
        pipe.abort(ToolFailed("pg_basebackup", 1, "boom"))
        with pytest.raises(ToolFailed, match="pg_basebackup"):
            read_all(pipe, 65536)
        with pytest.raises(ToolFailed, match="pg_basebackup"):  # and again, never a clean end
            pipe.read(65536)
        pipe.close()


def test_a_compressor_that_dies_is_a_tool_failure():
    pipe = compressing_pipe("gzip")
    pipe._process.kill()  # the real pigz, killed as the OOM killer would
    try:
        with pytest.raises(ToolFailed, match="pigz"):
            for _ in range(200):
                pipe.write(os.urandom(1 << 16))
            pipe.finish()
            read_all(pipe, 65536)
    finally:
        pipe.close()


def test_missing_pigz_is_a_clear_config_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="pigz is not installed"):
        compressing_pipe("gzip")


def test_suffixes_and_codec_names():
    assert SUFFIXES == {"gzip": ".gz", "zstd": ".zst"}
    assert codec_from_suffix("wal_000000010000000000000001.gz") == "gzip"
    assert codec_from_suffix("base.tar.zst") == "zstd"
    assert codec_from_suffix("backup_label_20130828T1810Z.txt") is None
    with pytest.raises(UsageError):
        compression.check_codec("lzop")
    with pytest.raises(UsageError):
        compress_bytes("bzip2", b"x")
