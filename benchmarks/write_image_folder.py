"""Write a torchvision set from ``../shared/datasets`` as a folder of PNG files, the way people keep images.

::

    python benchmarks/write_image_folder.py OUT [--dataset fashion-mnist] [--train-per-class 400]
                                                [--test-per-class 100] [--layout split|flat]

``--layout split`` (the default) writes ``OUT/train/<class>/<n>.png`` and ``OUT/test/<class>/<n>.png``, the layout of
torchvision's ``ImageFolder``, Keras' ``image_dataset_from_directory`` and fastai; ``flat`` writes
``OUT/<class>/<n>.png`` (training and test images together). Class folders are the set's class names with ``/``
replaced by ``-`` (Fashion-MNIST's ``T-shirt/top``). The first ``--train-per-class`` images of each class of the
training files and the first ``--test-per-class`` of the test files are written (0: all), so the folder is the same on
every machine. Used for the recorded folder runs in ``docs/EXPERIMENTS.md``; the images are never copied into the
repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dataset", default="fashion-mnist", choices=("mnist", "fashion-mnist"))
    parser.add_argument("--train-per-class", type=int, default=400)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--layout", choices=("split", "flat"), default="split")
    parser.add_argument("--data-root", type=Path, default=DATASETS)
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image

    from cnnplayground.data.torchvision_sets import load_torchvision

    if not args.data_root.is_dir():
        print(f"no datasets at {args.data_root}", file=sys.stderr)
        return 1
    train, test, classes = load_torchvision(args.dataset, args.data_root, download=False)
    names = [c.replace("/", "-") for c in classes]
    written = 0
    for split_name, split, per_class in (("train", train, args.train_per_class), ("test", test, args.test_per_class)):
        labels = split.labels.numpy()
        images = split.images.numpy()
        for label, name in enumerate(names):
            folder = args.out / (split_name if args.layout == "split" else "") / name
            folder.mkdir(parents=True, exist_ok=True)
            index = np.flatnonzero(labels == label)
            if per_class:
                index = index[:per_class]
            for n, i in enumerate(index):
                pixels = images[i]
                mode = "L" if pixels.shape[0] == 1 else "RGB"
                img = Image.fromarray(pixels[0] if mode == "L" else pixels.transpose(1, 2, 0), mode)
                img.save(folder / f"{split_name}_{n:05d}.png")
                written += 1
    print(f"wrote {written:,} PNG files of {args.dataset} ({len(names)} classes) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
