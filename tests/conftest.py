"""Test-session settings shared by all tests."""

import os

# Triton kernels run on CPU tensors through Triton's interpreter when no GPU is present; the
# variable must be set before anything imports triton.
if "TRITON_INTERPRET" not in os.environ:
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"

os.environ.setdefault("MPLBACKEND", "Agg")
