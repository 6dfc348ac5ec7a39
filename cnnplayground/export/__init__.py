"""Exporting a network out of the app (issue 8). Qt-free.

- :mod:`.code`: standalone PyTorch source (``model.py``) generated from the graph, and the
  weights as safetensors with the keys that source expects (``export_pytorch``).
- :mod:`.script`: a plain-PyTorch training script (``train.py`` + ``config.json``) that runs
  on one device or, under ``torchrun``, with DistributedDataParallel.
- :mod:`.formats`: ONNX and ``torch.export`` (``.pt2``) files.
- :mod:`.card`: a model card in Markdown.

The command line is ``cnnplayground export`` (``cli/export.py``).
"""
