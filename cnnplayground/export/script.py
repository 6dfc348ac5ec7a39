"""Training-script export: a standalone plain-PyTorch ``train.py`` for a project.

:func:`export_training_script` writes, into one folder:

- ``model.py`` (and ``model.safetensors`` when the project has weights: the script
  starts from them), from :mod:`.code`;
- ``config.json``: the project's training settings and dataset choice
  (:func:`training_config`), which the script reads;
- ``train.py``: :data:`TRAIN_PY`, the same for every project.

The script runs as ``python train.py`` on one CPU or GPU, and on several GPUs or
machines under ``torchrun``: it reads ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` from
the environment torchrun sets, joins the process group (nccl on CUDA, gloo on the
CPU), wraps the network in ``DistributedDataParallel`` and shards each epoch with a
``DistributedSampler``; only rank 0 prints and saves. Datasets: torchvision's
MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100 and SVHN from ``--data-root`` (never
downloaded), or ``synthetic``: class-dependent patterns generated inside the script,
the same on every run and process. Settings the script does not reproduce (most
augmentations, adversarial training, early stopping, the plateau schedule, the
app's own datasets) are listed in ``config.json`` under ``not_reproduced`` and
printed when it starts.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core.inference import infer
from .code import MODEL_FILE, WEIGHTS_FILE, ExportError, export_pytorch, write_text

if TYPE_CHECKING:  # pragma: no cover
    from ..project import Project

__all__ = ["CONFIG_FILE", "SCRIPT_DATASETS", "SCRIPT_FILE", "TRAIN_PY", "export_training_script", "training_config"]

SCRIPT_FILE = "train.py"
CONFIG_FILE = "config.json"
#: App dataset names the script reads with torchvision (same names in the script).
SCRIPT_DATASETS = ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "svhn")
#: TrainingConfig fields copied to config.json (the script implements each of them).
TRAINING_FIELDS = (
    "epochs", "batch_size", "optimizer", "learning_rate", "momentum", "nesterov", "weight_decay", "l1",
    "schedule", "warmup_epochs", "step_size", "step_gamma", "label_smoothing", "grad_clip", "seed",
    "mixed_precision",
)


def training_config(project: Project) -> dict[str, Any]:
    """What ``config.json`` holds for ``project`` (plain JSON values)."""
    result = infer(project.graph)
    if not result.ok:
        raise ExportError(f"the network is not valid: {result.first_error() or 'unknown problem'}")
    cfg = project.training
    training = {name: getattr(cfg, name) for name in TRAINING_FIELDS}
    aug = cfg.augment
    training["augment"] = {"hflip": aug.hflip, "crop_padding": aug.crop_padding}
    not_reproduced: list[str] = []
    if cfg.schedule == "plateau":
        training["schedule"] = "constant"
        not_reproduced.append("the plateau schedule (the script keeps the learning rate constant)")
    others = [name for name in ("vflip", "rotate_degrees", "translate", "color_jitter", "erasing", "noise_std")
              if getattr(aug, name)]
    if others:
        not_reproduced.append("augmentation " + ", ".join(others) + " (the script does hflip and crop_padding)")
    if cfg.adversarial != "none":
        not_reproduced.append(f"adversarial training ({cfg.adversarial})")
    if cfg.early_stopping_patience:
        not_reproduced.append("early stopping")
    if cfg.class_weights != "none":
        not_reproduced.append(f"class weights ({cfg.class_weights}; the script's loss weighs every image the same)")
    if cfg.device not in ("auto", "cpu", "cuda"):
        not_reproduced.append(f"device {cfg.device} (the script uses CUDA when present, else the CPU)")
    held = [n.id for n in project.graph.iter_nodes() if n.frozen or n.lr_scale != 1.0]
    if held:
        not_reproduced.append("frozen layers and per-layer learning-rate factors (" + ", ".join(held[:5])
                              + (", ..." if len(held) > 5 else "") + ")")
    choice = project.dataset
    dataset = choice.name if choice.name in SCRIPT_DATASETS else "synthetic"
    if choice.name not in SCRIPT_DATASETS:
        not_reproduced.append(f"the project's dataset {choice.name!r} (the script uses its own synthetic "
                              "patterns instead; choose another with --dataset)")
    corruption = [k for k in ("random_labels", "random_pixels") if choice.options.get(k)]
    if corruption:
        not_reproduced.append("dataset corruption " + ", ".join(corruption))
    not_reproduced.append("the validation hold-out (the script trains on the whole training split and "
                          "reports the test split)")
    return {
        "project": project.name,
        "generated_by": f"CNN Playground {__version__}",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_shape": list(result.input_shape or ()),
        "output_shape": list(result.output_shape or ()),
        "dataset": {"name": dataset, "project_dataset": choice.name, "options": dict(choice.options)},
        "training": training,
        "not_reproduced": not_reproduced,
    }


def export_training_script(project: Project, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``train.py``, ``model.py``, ``config.json`` and (if trained) ``model.safetensors``.

    Returns the paths written. :class:`~.code.ExportError` if the network is not valid
    or a file cannot be written.
    """
    config = training_config(project)
    out = Path(out_dir)
    written = export_pytorch(project, project.weights, out)
    written.append(write_text(out / CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n"))
    title = " ".join(str(project.name).split()).replace("\\", "/").replace('"""', "'''")
    script = TRAIN_PY.replace("__TITLE__", title).replace("__VERSION__", __version__)
    written.append(write_text(out / SCRIPT_FILE, script))
    return written


# The script. Kept free of placeholders except __TITLE__ and __VERSION__ (replaced above).
TRAIN_PY = f'''"""Train __TITLE__ with plain PyTorch, on one device or on several with torchrun.

Generated by CNN Playground __VERSION__. Files: {MODEL_FILE} (the network), config.json (the project's
training settings and dataset) and {WEIGHTS_FILE} (the project's weights, if it had any: the start point).

    python train.py                                    # one GPU if there is one, else the CPU
    python train.py --dataset synthetic --steps 50     # a quick check that needs no data files
    torchrun --nproc_per_node=4 train.py               # 4 GPUs of this machine
    torchrun --nnodes=2 --node_rank=R --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=HOST:29500 train.py

Under torchrun each process reads RANK, LOCAL_RANK and WORLD_SIZE from the environment, joins the process
group (nccl on CUDA, gloo on the CPU), wraps the network in DistributedDataParallel and takes its share of
every epoch through a DistributedSampler. batch_size in config.json is the global batch: each of the W
processes takes batch_size / W images per step. Only rank 0 prints and saves (--out, safetensors with the
keys of {MODEL_FILE}).

Datasets: mnist, fashion-mnist, kmnist, cifar10, cifar100, svhn in torchvision's layout under --data-root
(never downloaded here: fetch them once, e.g. torchvision.datasets.MNIST(root, download=True)), or
synthetic: class-dependent patterns generated by this script, identical on every run and process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from model import INPUT_SHAPE, OUTPUT_SHAPE, Net

HERE = Path(__file__).resolve().parent
#: name: (torchvision class, image shape, classes)
TORCHVISION_SETS = {{
    "mnist": ("MNIST", (1, 28, 28), 10),
    "fashion-mnist": ("FashionMNIST", (1, 28, 28), 10),
    "kmnist": ("KMNIST", (1, 28, 28), 10),
    "cifar10": ("CIFAR10", (3, 32, 32), 10),
    "cifar100": ("CIFAR100", (3, 32, 32), 100),
    "svhn": ("SVHN", (3, 32, 32), 10),
}}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=HERE / "config.json", help="training settings (config.json)")
    p.add_argument("--dataset", choices=[*TORCHVISION_SETS, "synthetic"], help="default: config.json's")
    p.add_argument("--data-root", type=Path, default=Path("data"), help="folder holding torchvision's datasets")
    p.add_argument("--epochs", type=int, help="default: config.json's")
    p.add_argument("--batch-size", type=int, help="global batch size (default: config.json's)")
    p.add_argument("--lr", type=float, help="learning rate (default: config.json's)")
    p.add_argument("--seed", type=int, help="default: config.json's")
    p.add_argument("--steps", type=int, default=0, help="stop after this many optimizer steps (0: all epochs)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--init", type=Path, default=HERE / "{WEIGHTS_FILE}",
                   help="start from these weights when the file exists (default: {WEIGHTS_FILE} beside this script)")
    p.add_argument("--no-init", action="store_true", help="start from random weights")
    p.add_argument("--out", type=Path, default=Path("trained.safetensors"), help="where rank 0 saves the weights")
    p.add_argument("--save-all-ranks", action="store_true",
                   help="every process also saves its weights as rank<R>.safetensors beside --out (for checks)")
    p.add_argument("--sync-bn", action="store_true", help="synchronize BatchNorm statistics across GPUs (CUDA)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--log-every", type=int, default=50, help="print the loss every N steps (0: per epoch only)")
    p.add_argument("--synthetic-train", type=int, default=2048, help="synthetic training images")
    p.add_argument("--synthetic-test", type=int, default=512, help="synthetic test images")
    return p.parse_args()


# --- data --------------------------------------------------------------------------------------


class SyntheticImages(Dataset):
    """Class-dependent patterns: a smooth random template per class plus Gaussian noise, uint8.

    Item i has label i mod classes and noise from a generator seeded by (split, i), so every
    process and every run sees the same images without storing them.
    """

    def __init__(self, count: int, shape: tuple[int, int, int], classes: int, split: int) -> None:
        self.count, self.shape, self.classes, self.split = count, tuple(shape), classes, split
        g = torch.Generator().manual_seed(12345)
        self.templates = torch.rand(classes, shape[0], 4, 4, generator=g)  # upsampled per item

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        label = i % self.classes
        g = torch.Generator().manual_seed(self.split * 1_000_003 + i)
        template = nn.functional.interpolate(self.templates[label:label + 1], size=self.shape[1:],
                                             mode="bilinear", align_corners=False)[0]
        image = (template + 0.15 * torch.randn(self.shape, generator=g)).clamp(0, 1)
        return (image * 255).round().to(torch.uint8), label


def load_torchvision(name: str, root: Path) -> tuple[Dataset, Dataset]:
    import torchvision

    class_name, _, _ = TORCHVISION_SETS[name]
    cls = getattr(torchvision.datasets, class_name)
    splits = []
    for train in (True, False):
        try:
            if name == "svhn":
                ds = cls(str(root), split="train" if train else "test", download=False)
            else:
                ds = cls(str(root), train=train, download=False)
        except RuntimeError as exc:
            raise SystemExit(f"train.py: {{name}} not found under {{root}} ({{exc}}); see --data-root") from None
        images = torch.as_tensor(ds.data)
        if images.dim() == 3:  # MNIST family: N×H×W
            images = images.unsqueeze(1)
        elif images.shape[-1] in (1, 3):  # CIFAR: N×H×W×C (SVHN is N×C×H×W already)
            images = images.permute(0, 3, 1, 2)
        labels = torch.as_tensor(ds.targets if hasattr(ds, "targets") else ds.labels, dtype=torch.int64)
        splits.append(TensorDataset(images.contiguous(), labels))
    return splits[0], splits[1]


def channel_stats(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the training images, in 0..1 units."""
    if isinstance(dataset, TensorDataset):
        images = dataset.tensors[0]
    else:
        images = torch.stack([dataset[i][0] for i in range(min(len(dataset), 512))])
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for chunk in images.split(4096):
        c = chunk.to(torch.float64) / 255
        total += c.sum(dim=(0, 2, 3))
        squares += (c * c).sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / n
    std = (squares / n - mean * mean).clamp_min(1e-12).sqrt()
    return mean.float(), std.float()


def augment(x: torch.Tensor, hflip: bool, crop_padding: int) -> torch.Tensor:
    """Random left-right flips and padded random crops, per image (x in 0..1, N×C×H×W)."""
    n, _, h, w = x.shape
    if hflip:
        flip = torch.rand(n, device=x.device) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    if crop_padding:
        p = crop_padding
        padded = nn.functional.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n, 1), device=x.device) + torch.arange(h, device=x.device)
        dx = torch.randint(0, 2 * p + 1, (n, 1), device=x.device) + torch.arange(w, device=x.device)
        rows = torch.arange(n, device=x.device).view(-1, 1, 1)
        x = padded.permute(0, 2, 3, 1)[rows, dy[:, :, None], dx[:, None, :]].permute(0, 3, 1, 2)
    return x


# --- optimization ------------------------------------------------------------------------------


def make_optimizer(model: nn.Module, t: dict) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    lr, wd = t["learning_rate"], t["weight_decay"]
    if t["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=t["momentum"], weight_decay=wd,
                               nesterov=t["nesterov"] and t["momentum"] > 0)
    if t["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if t["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=lr, momentum=t["momentum"], weight_decay=wd)


def lr_factor(t: dict, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the learning rate at 0-based optimizer step ``step`` (as CNN Playground computes it)."""
    total = max(t["epochs"] * steps_per_epoch, 1)
    if t["schedule"] == "onecycle":  # cosine from lr/25 up to lr over 30 %, then down to lr/25e4
        up = max(int(0.3 * total), 1)
        if step < up:
            return cos_between(1 / 25, 1.0, step / up)
        return cos_between(1.0, 1 / 25e4, min((step - up) / max(total - up, 1), 1.0))
    warmup = int(round(t["warmup_epochs"] * steps_per_epoch))
    warm = min((step + 1) / warmup, 1.0) if warmup > 0 else 1.0
    if t["schedule"] == "step":
        base = t["step_gamma"] ** (step // steps_per_epoch // t["step_size"])
    elif t["schedule"] == "cosine":
        progress = (step - warmup) / max(total - warmup, 1)
        base = 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    else:
        base = 1.0
    return warm * base


def cos_between(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


# --- the run -----------------------------------------------------------------------------------


def evaluate(model: nn.Module, loader: DataLoader, normalize, criterion, device, distributed: bool) -> list[float]:
    """[loss sum, correct, count] over this process's share, summed over all processes.

    The DistributedSampler repeats up to W - 1 images so that every process has as many.
    """
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    with torch.no_grad():
        for images, labels in loader:
            labels = labels.to(device)
            logits = model(normalize(images.to(device)))
            sums[0] += criterion(logits.float(), labels).double() * len(labels)
            sums[1] += (logits.argmax(1) == labels).sum()
            sums[2] += len(labels)
    if distributed:
        dist.all_reduce(sums)
    model.train()
    return sums.tolist()


def main() -> None:
    args = parse_args()
    config = json.loads(args.config.read_text(encoding="utf-8"))
    t = dict(config["training"])
    for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size), ("learning_rate", args.lr),
                       ("seed", args.seed)):
        if value is not None:
            t[key] = value
    dataset = args.dataset or config["dataset"]["name"]

    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ  # set by torchrun
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available() if args.device == "auto" else args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("train.py: --device cuda, but CUDA is not available")
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    if distributed:
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        train(args, config, t, dataset, device, rank, world, distributed)
    finally:
        if distributed:
            dist.destroy_process_group()


def train(args, config: dict, t: dict, dataset: str, device: torch.device, rank: int, world: int,
          distributed: bool) -> None:
    def log(text: str) -> None:
        if rank == 0:
            print(text, flush=True)

    for note in config.get("not_reproduced", []):
        log(f"note: not reproduced here: {{note}}")

    # Data: every process reads the whole set; the sampler gives each its share.
    classes = OUTPUT_SHAPE[0]
    if dataset == "synthetic":
        train_set = SyntheticImages(args.synthetic_train, INPUT_SHAPE, classes, split=1)
        test_set = SyntheticImages(args.synthetic_test, INPUT_SHAPE, classes, split=2)
    else:
        _, shape, n_classes = TORCHVISION_SETS[dataset]
        if tuple(shape) != tuple(INPUT_SHAPE) or n_classes != classes:
            raise SystemExit(f"train.py: {{dataset}} has {{n_classes}} classes of {{'×'.join(map(str, shape))}} "
                             f"images; the network takes {{'×'.join(map(str, INPUT_SHAPE))}} and gives {{classes}}")
        train_set, test_set = load_torchvision(dataset, args.data_root)
    mean, std = (s.to(device).view(1, -1, 1, 1) for s in channel_stats(train_set))
    aug = t.get("augment", {{}})

    def normalize(images: torch.Tensor, train: bool = False) -> torch.Tensor:
        x = images.float() / 255
        if train and (aug.get("hflip") or aug.get("crop_padding")):
            x = augment(x, bool(aug.get("hflip")), int(aug.get("crop_padding", 0)))
        return (x - mean) / std

    per_process = max(1, t["batch_size"] // world)
    seed = int(t["seed"])
    if distributed:
        sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        test_sampler = DistributedSampler(test_set, num_replicas=world, rank=rank, shuffle=False)
    else:
        sampler = test_sampler = None
    loader = DataLoader(train_set, batch_size=per_process, sampler=sampler, shuffle=sampler is None,
                        generator=torch.Generator().manual_seed(seed), num_workers=args.workers,
                        pin_memory=device.type == "cuda")
    test_loader = DataLoader(test_set, batch_size=max(per_process, 256), sampler=test_sampler,
                             num_workers=args.workers, pin_memory=device.type == "cuda")

    # The network: the same initial weights in every process (DDP also broadcasts rank 0's).
    torch.manual_seed(seed)
    model = Net()
    if args.init.exists() and not args.no_init:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(args.init)))
        log(f"initial weights: {{args.init}}")
    model.to(device)
    if distributed and args.sync_bn and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = model
    if distributed:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    torch.manual_seed(seed + rank)  # each process its own dropout masks

    optimizer = make_optimizer(model, t)
    criterion = nn.CrossEntropyLoss(label_smoothing=t["label_smoothing"])
    amp = device.type == "cuda" and t.get("mixed_precision", False) and torch.cuda.is_bf16_supported()
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    steps_per_epoch = len(loader)
    log(f"{{config.get('project', 'network')}}: {{sum(p.numel() for p in model.parameters()):,}} parameters; "
        f"{{dataset}}, {{len(train_set):,}} training images; {{world}} process(es) on {{device.type}}, "
        f"batch {{per_process}} × {{world}}; {{t['epochs']}} epochs of {{steps_per_epoch}} steps"
        + (f", stopping after {{args.steps}} steps" if args.steps else ""))

    step = 0
    for epoch in range(t["epochs"]):
        if sampler is not None:
            sampler.set_epoch(epoch)
        started = time.perf_counter()
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
        for images, labels in loader:
            for group in optimizer.param_groups:
                group["lr"] = t["learning_rate"] * lr_factor(t, step, steps_per_epoch)
            x = normalize(images.to(device, non_blocking=True), train=True)
            y = labels.to(device, non_blocking=True)
            with autocast():
                logits = net(x)
                loss = criterion(logits.float(), y)
            total = loss
            if t.get("l1"):
                total = loss + t["l1"] * sum(p.abs().sum() for p in model.parameters() if p.dim() > 1)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if t.get("grad_clip"):
                nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
            optimizer.step()
            step += 1
            sums += torch.stack([loss.detach().double() * len(y), (logits.argmax(1) == y).sum().double(),
                                 torch.tensor(float(len(y)), dtype=torch.float64, device=device)])
            if args.log_every and step % args.log_every == 0:
                log(f"  step {{step}}: loss {{loss.item():.4f}}")
            if args.steps and step >= args.steps:
                break
        if distributed:
            dist.all_reduce(sums)
        loss_sum, correct, count = sums.tolist()
        test_loss, test_correct, test_count = evaluate(model, test_loader, normalize, criterion, device,
                                                       distributed)
        seconds = time.perf_counter() - started
        log(f"epoch {{epoch + 1}}/{{t['epochs']}}: train loss {{loss_sum / max(count, 1):.4f}}, "
            f"accuracy {{100 * correct / max(count, 1):.2f}} %; test loss {{test_loss / max(test_count, 1):.4f}}, "
            f"accuracy {{100 * test_correct / max(test_count, 1):.2f}} %; {{seconds:.1f}} s, "
            f"{{count / seconds:,.0f}} images/s")
        if args.steps and step >= args.steps:
            break

    if distributed:  # every process keeps rank 0's BatchNorm statistics, as rank 0 saves them
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)
    from safetensors.torch import save_file

    state = {{k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        save_file(state, str(args.out), metadata={{"format": "pt"}})
        log(f"saved {{args.out}}")
    if args.save_all_ranks:
        save_file(state, str(args.out.with_name(f"rank{{rank}}.safetensors")), metadata={{"format": "pt"}})


if __name__ == "__main__":
    main()
'''
