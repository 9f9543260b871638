"""write_atomically: all or nothing, with the usual permissions."""

import os
import stat

import pytest

from snndeploy.files import write_atomically, write_text_atomically


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = write_text_atomically(tmp_path / "a.json", "old")

    def fail(temp):
        temp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, fail)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.json"]


def test_written_file_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomically(tmp_path / "sub" / "b.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
