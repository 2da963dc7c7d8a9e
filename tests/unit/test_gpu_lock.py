"""``runner.gpu_lock``: tests share a device, a measurement has it alone, and a waiting
measurement holds new tests back. Each check tries a lock without blocking (``LOCK_NB``) from a
descriptor of its own, as another process would: deterministic, no sleeps."""

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest

from pytest_flaggems_import.runner import gpu_lock
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


def test_a_test_steps_aside_while_it_compiles_and_shares_again_before_launching(lock):
    """Triton compiling a test's kernel is seconds of CPU work: a measurement may have the device
    meanwhile, once the test's queued kernels are done; the test shares it again afterwards."""
    drained = []
    with lock.sharing():
        assert lock.step_aside(lambda: drained.append(True))
        assert drained == [True]  # its queued work waited for before letting go
        assert can_lock(lock.main, fcntl.LOCK_EX)  # a measurement could start now
        lock.step_back()
        assert not can_lock(lock.main, fcntl.LOCK_EX) and can_lock(lock.main, fcntl.LOCK_SH)
    assert can_lock(lock.main, fcntl.LOCK_EX)


def test_only_a_shared_holder_steps_aside(lock):
    assert not lock.step_aside(pytest.fail)  # outside sharing: nothing to let go
    with lock.alone():  # a measurement never lets the device go mid-way
        assert not lock.step_aside(pytest.fail)
        assert not can_lock(lock.main, fcntl.LOCK_SH)
    lock.hold("relu")
    with lock.sharing():  # inside a hold: the hold decides
        assert not lock.step_aside(pytest.fail)
    lock.release()


def test_leaving_sharing_while_aside_leaves_nothing_held(lock):
    """A compile that raises never calls the post-compile hook: the test's end lets go anyway."""
    with lock.sharing():
        lock.step_aside(lambda: None)
    assert can_lock(lock.main, fcntl.LOCK_EX)
    with lock.sharing():  # and the next test shares as usual
        assert not can_lock(lock.main, fcntl.LOCK_EX)


def test_triton_compile_hooks_step_aside_and_back_keeping_earlier_hooks(lock, monkeypatch):
    """As Triton calls them around compiling a kernel not in memory (``jit_cache_hook`` before,
    ``jit_post_compile_hook`` after); hooks set before ours are still called."""
    from triton import knobs

    from pytest_flaggems_import.runner import gpu_lock

    calls = []
    monkeypatch.setattr(knobs.runtime, "jit_cache_hook", lambda **event: calls.append(("before", event)) or False)
    monkeypatch.setattr(knobs.runtime, "jit_post_compile_hook", lambda **event: calls.append(("after", event)))
    monkeypatch.setattr(gpu_lock, "for_device", lambda device: lock)
    monkeypatch.setattr(gpu_lock.devices, "synchronize", lambda device: calls.append(("synchronized", {})))
    assert not gpu_lock.step_aside_while_compiling("cpu")  # the interpreter compiles nothing
    assert gpu_lock.step_aside_while_compiling("cuda")
    with lock.sharing():
        assert knobs.runtime.jit_cache_hook(key="k", repr="kernel") is False  # the compile goes ahead
        assert can_lock(lock.main, fcntl.LOCK_EX)  # while it compiles, a measurement may run
        knobs.runtime.jit_post_compile_hook(key="k", repr="kernel")
        assert not can_lock(lock.main, fcntl.LOCK_EX)  # shared again before the launch
    assert [name for name, _ in calls] == ["synchronized", "before", "after"]
    assert calls[1][1] == {"key": "k", "repr": "kernel"}


def test_an_earlier_hook_that_skips_the_compile_gets_the_device_back_at_once(lock, monkeypatch):
    from triton import knobs

    from pytest_flaggems_import.runner import gpu_lock

    monkeypatch.setattr(knobs.runtime, "jit_cache_hook", lambda **event: True)  # e.g. a compile-only tool
    monkeypatch.setattr(knobs.runtime, "jit_post_compile_hook", None)
    monkeypatch.setattr(gpu_lock, "for_device", lambda device: lock)
    monkeypatch.setattr(gpu_lock.devices, "synchronize", lambda device: None)
    assert gpu_lock.step_aside_while_compiling("cuda")
    with lock.sharing():
        assert knobs.runtime.jit_cache_hook(key="k") is True
        assert not can_lock(lock.main, fcntl.LOCK_EX)  # no post-compile call comes: shared again now


def test_a_thread_started_since_keeps_the_device_shared_through_a_compile(lock, monkeypatch):
    """A test that started a thread may have it launching kernels while the main thread
    compiles: the lock is not let go then (a measurement elsewhere would overlap them)."""
    import threading

    from triton import knobs

    from pytest_flaggems_import.runner import gpu_lock

    monkeypatch.setattr(knobs.runtime, "jit_cache_hook", None)
    monkeypatch.setattr(knobs.runtime, "jit_post_compile_hook", None)
    monkeypatch.setattr(gpu_lock, "for_device", lambda device: lock)
    monkeypatch.setattr(gpu_lock.devices, "synchronize", lambda device: None)
    assert gpu_lock.step_aside_while_compiling("cuda")
    stop = threading.Event()
    launcher = threading.Thread(target=stop.wait)
    launcher.start()
    try:
        with lock.sharing():
            knobs.runtime.jit_cache_hook(key="k")
            assert not can_lock(lock.main, fcntl.LOCK_EX)  # still shared: no measurement may start
            knobs.runtime.jit_post_compile_hook(key="k")
    finally:
        stop.set()
        launcher.join()
    with lock.sharing():  # the thread has ended: compiles step aside again
        knobs.runtime.jit_cache_hook(key="k")
        assert can_lock(lock.main, fcntl.LOCK_EX)
        knobs.runtime.jit_post_compile_hook(key="k")


def blocked_on(path) -> bool:
    """Whether some lock request on ``path`` waits now (``/proc/locks`` lists it after ``->``)."""
    inode = os.stat(path).st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[1] == "->" and int(fields[6].rsplit(":", 1)[-1]) == inode:
            return True
    return False


def test_the_time_spent_waiting_for_the_device_is_counted(lock, tmp_path):
    """Session timing's "waiting for the GPU": from asking for the lock to having it. The test
    sees the request blocked in the kernel before it starts the wait it then checks for."""
    other = DeviceLock("gpu-test", tmp_path)  # another process's view of the same device
    before = gpu_lock.waited_in_process()
    other.hold("relu")
    assert gpu_lock.waited_in_process() - before < 0.2  # it found the device free
    before = gpu_lock.waited_in_process()
    took = threading.Event()

    def a_test_wanting_the_device():
        with lock.sharing():
            took.set()

    thread = threading.Thread(target=a_test_wanting_the_device)
    thread.start()
    for _ in range(6000):  # until its request waits in the kernel (at most a minute)
        if blocked_on(lock.turnstile):
            break
        time.sleep(0.01)
    time.sleep(0.2)
    assert not took.is_set()
    other.release()
    thread.join()
    assert took.is_set()
    assert gpu_lock.waited_in_process() - before >= 0.2  # what a test's report says it waited
