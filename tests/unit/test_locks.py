import os
import subprocess
import sys

import pytest

from drkit.core.errors import ExitCode, LockedError
from drkit.engines.locks import PolicyLock


def test_second_holder_is_refused_naming_the_first(tmp_path):
    held = PolicyLock(tmp_path, "shop", "backup").acquire()
    code = ("import sys; from pathlib import Path; from drkit.engines.locks import PolicyLock\n"
            "from drkit.core.errors import LockedError\n"
            f"try:\n    PolicyLock(Path({str(tmp_path)!r}), 'shop').acquire()\n"
            "except LockedError as e:\n    print(e); sys.exit(e.exit_code)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == ExitCode.LOCKED
    assert "shop: already running (backup, pid" in proc.stdout and " since " in proc.stdout
    held.release()


def test_release_clears_holder_and_a_dead_holder_is_detected(tmp_path):
    with PolicyLock(tmp_path, "shop", "backup") as lock:
        assert lock.dead_holder is None
    again = PolicyLock(tmp_path, "shop").acquire()
    assert again.dead_holder is None
    os.close(again._fd)  # as if the holder was killed: the flock goes, the holder line stays
    again._fd = None
    third = PolicyLock(tmp_path, "shop").acquire()
    assert third.dead_holder and "pid" in third.dead_holder
    third.release()


def test_in_process_double_acquire_raises(tmp_path):
    with PolicyLock(tmp_path, "shop"):
        with pytest.raises(LockedError):
            PolicyLock(tmp_path, "shop").acquire()
