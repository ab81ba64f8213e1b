"""Saving: the file's permissions, long names, and what a killed save leaves behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from refnet import Dense, NeuralNetwork

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and signals")


def network(seed: int = 0) -> NeuralNetwork:
    return NeuralNetwork([Dense(3, 2, seed=seed)])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@POSIX
@pytest.mark.parametrize(("mask", "expected"), [(0o077, 0o600), (0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_a_new_file_gets_the_permissions_the_umask_gives(tmp_path: Path, umask: Any, mask: int, expected: int) -> None:
    umask(mask)
    network().save(tmp_path / "model.npz")
    assert mode(tmp_path / "model.npz") == expected


@POSIX
@pytest.mark.parametrize("existing", [0o600, 0o640, 0o644, 0o400])
def test_a_replaced_file_keeps_its_permissions(tmp_path: Path, umask: Any, existing: int) -> None:
    umask(0o022)
    path = tmp_path / "model.npz"
    network(0).save(path)
    os.chmod(path, existing)
    network(1).save(path)  # (root may replace a read-only file; the folder is what must be writable)
    assert mode(path) == existing
    np.testing.assert_array_equal(NeuralNetwork.load(path).layers[0].params["W"], network(1).layers[0].params["W"])


def test_a_file_name_as_long_as_the_system_allows_can_be_saved(tmp_path: Path) -> None:
    path = tmp_path / ("m" * 246 + ".npz")  # 250 characters; the folder's limit is usually 255
    network().save(path)
    np.testing.assert_array_equal(NeuralNetwork.load(path).layers[0].params["W"], network().layers[0].params["W"])
    assert os.listdir(tmp_path) == [path.name]


SAVE_THEN_STALL = textwrap.dedent(
    """
    import os, sys, time
    from refnet import Dense, NeuralNetwork

    def stall(descriptor):  # the temporary file is written: wait there to be killed
        print("written", flush=True)
        time.sleep(60)

    os.fsync = stall
    NeuralNetwork([Dense(400, 400, seed=1)]).save(sys.argv[1])
    """
)


def kill_during_save(path: Path, signum: int) -> int:
    """Run a save in another process, send ``signum`` while the temporary file is complete, return the exit code."""
    with subprocess.Popen(
        [sys.executable, "-c", SAVE_THEN_STALL, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        if child.stdout.readline() != "written\n":
            child.kill()
            raise AssertionError(child.communicate(timeout=60)[1])
        child.send_signal(signum)
        child.communicate(timeout=60)
    return child.returncode


@POSIX
def test_a_save_ended_by_sigterm_removes_its_temporary_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    network().save(path)
    before = path.read_bytes()
    assert kill_during_save(path, signal.SIGTERM) == -signal.SIGTERM  # still ended by the signal
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == before


@POSIX
def test_a_save_killed_outright_leaves_the_old_file_and_one_named_temporary(tmp_path: Path) -> None:
    # The documented limit: nothing runs on SIGKILL, so the temporary file stays (with a name that says so).
    path = tmp_path / "model.npz"
    network().save(path)
    before = path.read_bytes()
    assert kill_during_save(path, signal.SIGKILL) == -signal.SIGKILL
    left = sorted(set(os.listdir(tmp_path)) - {"model.npz"})
    assert len(left) == 1 and left[0].startswith(".refnet-save-") and left[0].endswith(".tmp")
    assert path.read_bytes() == before
    NeuralNetwork.load(path)


@POSIX
def test_saving_leaves_a_programs_own_sigterm_handler_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        seen.append(signal.getsignal(signal.SIGTERM))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    network().save(tmp_path / "a.npz")
    assert seen[-1] not in (signal.SIG_DFL, None)  # refnet's, for the save
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # and the default again after it

    def own(signum: int, frame: Any) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, own)
    try:
        network().save(tmp_path / "b.npz")
        assert seen[-1] is own and signal.getsignal(signal.SIGTERM) is own
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_saving_from_another_thread_works(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def save() -> None:
        try:
            network().save(tmp_path / "model.npz")
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=save)
    thread.start()
    thread.join()
    assert errors == []
    NeuralNetwork.load(tmp_path / "model.npz")
