"""``flag_gems.runtime`` stand-in: the device name and ``torch_device_fn`` (torch.cuda)."""

import os
import types

import torch

_name = os.environ.get("FLAGGEMS_STANDIN_DEVICE", "cuda")
device = types.SimpleNamespace(name=_name, vendor_name="nvidia")
torch_device_fn = torch.cuda
