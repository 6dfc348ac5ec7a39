"""PyInstaller runtime hook of the ``--cpu-only`` build (packaging/cnnplayground.spec).

That build leaves out cuDNN's kernel libraries, which torch loads only when it runs a
convolution on an NVIDIA GPU. Hide every GPU from torch before it is imported, so that
"Automatic (GPU if present)" picks the CPU and nothing ever asks for the missing files.
"""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
