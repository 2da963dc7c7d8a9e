"""``runner.gpu_lock``: tests share a device, a measurement has it alone, and a waiting
measurement holds new tests back. Each check tries a lock without blocking (``LOCK_NB``) from a
descriptor of its own, as another process would: deterministic, no sleeps."""

import fcntl
import os

import pytest

from pytest_flaggems_import.runner.gpu_lock import DeviceLock


def can_lock(path, how) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.fixture
def lock(tmp_path):
    return DeviceLock("gpu-test", tmp_path)


def test_tests_share_the_device_and_keep_a_measurement_out(lock):
    with lock.sharing(), lock.sharing():  # two tests at once
        assert can_lock(lock.main, fcntl.LOCK_SH)
        assert not can_lock(lock.main, fcntl.LOCK_EX)  # a measurement waits
    assert can_lock(lock.main, fcntl.LOCK_EX)  # and goes once they are done


def test_a_measurement_has_the_device_alone(lock):
    with lock.alone():
        assert not can_lock(lock.main, fcntl.LOCK_SH)
        assert not can_lock(lock.turnstile, fcntl.LOCK_EX)  # new tests queue at the turnstile
    assert can_lock(lock.main, fcntl.LOCK_SH) and can_lock(lock.turnstile, fcntl.LOCK_EX)


def test_a_waiting_measurement_holds_new_tests_back(lock):
    """A measurement waiting for running tests holds the turnstile: a test that wants to start
    now waits behind it instead of extending the wait forever."""
    fd = os.open(lock.turnstile, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # what alone() holds while it waits for the shared holders
    try:
        assert not can_lock(lock.turnstile, fcntl.LOCK_EX)  # sharing() starts with this: it waits
    finally:
        os.close(fd)
    with lock.sharing():
        pass


def test_a_lock_file_it_may_not_write_is_still_a_lock(lock, monkeypatch):
    """Another user's lock file (0644 after their umask): opened read-only, it still locks."""
    from pytest_flaggems_import.runner import gpu_lock

    real_open = os.open
    refused = []

    def open_(path, flags, *mode):
        if flags & os.O_RDWR:
            refused.append(path)
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *mode)

    lock.main.touch()
    lock.turnstile.touch()
    monkeypatch.setattr(gpu_lock.os, "open", open_)
    with lock.sharing():
        monkeypatch.setattr(gpu_lock.os, "open", real_open)
        assert not can_lock(lock.main, fcntl.LOCK_EX)
    assert refused


def test_a_hold_keeps_the_device_alone_across_calls_until_released(lock):
    """An operator's benchmark items: alone from the first measurement to the last one's end."""
    lock.hold("relu")
    assert lock.holder == "relu" and not can_lock(lock.main, fcntl.LOCK_SH)
    lock.hold("relu")  # its next item: still held, nothing taken twice
    with lock.alone(), lock.sharing():  # this process's own calls do not wait on its hold
        assert not can_lock(lock.main, fcntl.LOCK_SH)
    assert not can_lock(lock.main, fcntl.LOCK_SH)  # leaving them did not give the hold away
    lock.release()
    assert lock.holder is None and can_lock(lock.main, fcntl.LOCK_EX) and can_lock(lock.turnstile, fcntl.LOCK_EX)
    lock.release()  # releasing what is not held does nothing


def test_a_hold_for_another_operator_is_taken_afresh(lock):
    lock.hold("relu")
    lock.hold("gelu")
    assert lock.holder == "gelu" and not can_lock(lock.main, fcntl.LOCK_SH)
    lock.release()
    assert can_lock(lock.main, fcntl.LOCK_EX)
