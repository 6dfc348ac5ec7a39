"""Datasets as tensors, device-resident batching and on-device augmentation.

- :mod:`.base`: :class:`Split`, :class:`ImageData`, :class:`DatasetError`, ``channel_stats``.
- :mod:`.registry`: ``DATASETS``, ``list_datasets()``, ``load_dataset(choice)``,
  ``default_data_root()``: every dataset kind and one way to load it.
- :mod:`.synthetic`: the built-in set, generated in code (always offline).
- :mod:`.torchvision_sets`: MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100, SVHN
  in torchvision's layout; :mod:`.folder`: a user's folder of class sub-folders;
  :mod:`.stream`: such a folder larger than memory, read from a cache on disk.
- :mod:`.corruption`: random labels / random pixels (Zhang et al. 2017).
- :mod:`.augment`: ``AugmentConfig`` and ``augment_batch`` on whole batches.
- :mod:`.loader`: ``DeviceLoader``, batches as index slices on the device.

Only the light :mod:`.base` names are re-exported here, so importing the
package does not import torchvision or PIL.
"""

from .base import DatasetError, ImageData, Split, channel_stats

__all__ = ["DatasetError", "ImageData", "Split", "channel_stats"]
