"""The runner layer: device, isolation, timing. May import torch and triton, inside functions only."""
