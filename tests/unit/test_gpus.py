"""Several GPUs: which CUDA_VISIBLE_DEVICES entry each xdist worker is pinned to."""

from pytest_flaggems_import.runner import device


def test_workers_go_round_the_callers_list_of_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, GPU-8f2a,5")
    gpus = device.visible_gpus()
    assert gpus == ["3", "GPU-8f2a", "5"]  # entries of the caller's list, never physical ids
    assert [device.gpu_for_worker(gpus, f"gw{i}") for i in range(5)] == ["3", "GPU-8f2a", "5", "3", "GPU-8f2a"]


def test_one_gpu_or_none_pins_nothing(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert device.gpu_for_worker(device.visible_gpus(), "gw0") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device.visible_gpus() == []
    assert device.gpu_for_worker(["0", "1"], "main") is None  # not an xdist worker


def test_without_a_list_every_device_the_driver_counts(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(device, "_driver_device_count", lambda: 2)
    assert device.visible_gpus() == ["0", "1"]
    monkeypatch.setattr(device, "_driver_device_count", lambda: None)
    assert device.visible_gpus() == []
