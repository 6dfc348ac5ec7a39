"""PyInstaller runtime hook of the standalone app (packaging/cnnplayground.spec).

The bundle leaves out triton on purpose (torch.compile's GPU compiler, about 1 GB; the
app never compiles). torch's FLOP counter, imported by ``torch.export`` (the .pt2
export), logs "triton not found; flop counting will not work for triton kernels" when a
CUDA build of torch lacks triton: true, and irrelevant here, so keep it out of the output.
"""

import logging

logging.getLogger("torch.utils.flop_counter").setLevel(logging.ERROR)
