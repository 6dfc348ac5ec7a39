"""The feature-space map's time (Inspect → Feature Space): features of 2,000 images, then PCA or t-SNE.

LeNet-5 (seeded weights, or ``--weights`` of a trained project) on the first ``--images`` MNIST test
images (the synthetic set without the files): the features of the layer before the last
(``embedding_steps``, batches of 256), then PCA to 2-D, or PCA to 50 dimensions and t-SNE
(scikit-learn, Barnes-Hut, perplexity 30, seed 0), each on 1 and on 2 CPU threads (torch's and
OpenMP/BLAS's). Reported: the median of ``--repeats`` runs of each, and the first import of
scikit-learn's t-SNE (paid once per session, when t-SNE is first asked for).

Run: ``python benchmarks/bench_embedding.py [--images 2000] [--threads 1,2] [--repeats 3] [--json]``
(one ``RESULT {...}`` line with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_trainer import SHARED  # noqa: E402

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.data.registry import load_dataset  # noqa: E402
from cnnplayground.inspect.embedding import embedding_steps  # noqa: E402
from cnnplayground.project import DatasetChoice  # noqa: E402


def test_images(n: int):
    """``(images, labels, mean, std, dataset name)`` of the first ``n`` test images."""
    if (SHARED / "MNIST" / "raw").is_dir():
        data = load_dataset(DatasetChoice(name="mnist", root=str(SHARED)), val_fraction=0.0, seed=0)
        name = "mnist"
    else:
        data = load_dataset(DatasetChoice(name="synthetic", options={"train_size": 64, "test_size": n}),
                            val_fraction=0.0, seed=0)
        name = "synthetic"
    split = data.test
    return split.images[:n], split.labels[:n], data.mean, data.std, name


def one_map(model, images, labels, mean, std, method: str, threads: int) -> tuple[float, float]:
    """Seconds for the features and for the projection (``method``) on ``threads`` threads."""
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        t0 = time.perf_counter()
        features_done = t0
        for done, item in embedding_steps(model, images, labels, mean, std, limit=len(images), method=method):
            if done >= 1.0 and features_done == t0:
                features_done = time.perf_counter()
            if item is not None and not isinstance(item, str):
                break
        end = time.perf_counter()
    return features_done - t0, end - features_done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--weights", default="", help="a project file whose LeNet-5 weights to use")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    images, labels, mean, std, dataset = test_images(args.images)
    torch.manual_seed(0)
    model = build(get_preset("lenet5").factory())
    if args.weights:
        from cnnplayground.io.project import load_project
        model.load_state_dict(load_project(args.weights).weights)
    t0 = time.perf_counter()
    import sklearn.manifold  # noqa: F401  (the import the panel pays once, on the first t-SNE)
    import_s = time.perf_counter() - t0
    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        for method in ("pca", "tsne"):
            runs = [one_map(model, images, labels, mean, std, method, threads) for _ in range(args.repeats)]
            features = statistics.median(r[0] for r in runs)
            projection = statistics.median(r[1] for r in runs)
            rows.append({"method": method, "threads": threads, "features_s": features, "projection_s": projection,
                         "total_s": statistics.median(r[0] + r[1] for r in runs)})
    result = {"bench": "embedding", "dataset": dataset, "images": len(images), "repeats": args.repeats,
              "tsne_import_s": import_s, "rows": rows}
    print(f"LeNet-5, {len(images):,} {dataset} test images; scikit-learn t-SNE import {import_s:.2f} s")
    print("| projection | threads | features | projection | total |")
    print("|---|---|---|---|---|")
    for r in rows:
        name = "PCA" if r["method"] == "pca" else "t-SNE (PCA to 50 first)"
        print(f"| {name} | {r['threads']} | {r['features_s']:.2f} s | {r['projection_s']:.2f} s | "
              f"{r['total_s']:.2f} s |")
    if args.json:
        print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
