"""prepare_restore_target on a real file system."""
from __future__ import annotations

import os
import stat

import pytest

from swiftwal.adapters.restore_target import prepare_restore_target
from swiftwal.domain.errors import RestoreTargetNotEmpty


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_an_absent_directory_is_created_0700_whatever_the_umask(tmp_path):
    old = os.umask(0o002)
    try:
        prepare_restore_target(str(tmp_path / "new" / "data"))
    finally:
        os.umask(old)
    assert mode(tmp_path / "new" / "data") == 0o700
    assert os.listdir(tmp_path / "new" / "data") == []


def test_an_empty_directory_is_accepted_and_made_0700(tmp_path):
    target = tmp_path / "data"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    prepare_restore_target(str(target))
    assert mode(target) == 0o700


def test_a_directory_with_anything_in_it_is_refused_untouched(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    target.chmod(0o755)
    (target / ".hidden").write_text("keep me")
    with pytest.raises(RestoreTargetNotEmpty) as refused:
        prepare_restore_target(str(target))
    assert str(target) in str(refused.value)
    assert mode(target) == 0o755
    assert (target / ".hidden").read_text() == "keep me"


def test_a_file_is_refused(tmp_path):
    target = tmp_path / "data"
    target.write_text("a file")
    with pytest.raises(RestoreTargetNotEmpty, match="not a directory"):
        prepare_restore_target(str(target))
    assert target.read_text() == "a file"


def test_a_dangling_symlink_is_refused(tmp_path):
    target = tmp_path / "data"
    target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(RestoreTargetNotEmpty):
        prepare_restore_target(str(target))
    assert not (tmp_path / "nowhere").exists()
