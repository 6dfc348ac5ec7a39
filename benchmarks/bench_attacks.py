"""PGD and activation maximization side by side with plain PyTorch loops (issue 7).

In one run, with random weights (timing only; the figures do not depend on training) and
synthetic random inputs, pixel mean/std 0.5 per channel:

- **PGD-10 under L∞ on a batch**: ``inspect.adversarial.pgd`` (random start, 10 steps of
  2.5 ε / 10) on 256 MNIST-shaped images for LeNet-5 (``lenet5``, ε = 0.3) and 128
  CIFAR-shaped images for ``vgg_small`` (ε = 8/255); baseline: the textbook loop written
  here in plain torch with the same random start, steps and step size
  (``x.requires_grad_()``, cross-entropy of ``model(normalize(x))``, ``torch.autograd.grad``,
  ``x + α·sign(g)`` projected onto the ε-ball and into [0, 1]). Target: ours ≤ 1.1× the
  plain loop. Also shown, for information: PGD-10 as a multiple of one forward and
  backward pass (gradient to the input) of the same batch, which should be about 10–11×.
- **Activation maximization**: steps per second of ``inspect.maximize.maximize`` on one
  image, for a channel of a convolution (``conv2`` channel 0 of LeNet-5, ``conv2_2``
  channel 0 of ``vgg_small``) and for a class logit (``layer=None``, class 0), with the
  default settings (decorrelated Fourier parameterization, jitter, scale, rotation, L2 and
  total variation) and with the pixel parameterization (``fourier=False``); baseline: the
  cost floor, a bare loop of Adam steps of forward and backward of the same unit through the
  same model on a single image (sigmoid pixels, no regularizers, no transforms, no
  per-step display pass).

Devices: ``--device auto`` takes CUDA when available (synchronized before every clock
read), else the CPU. Activation maximization runs on the model's device; a row says why
when it cannot. Warm-up runs
come first; ours and the baseline are interleaved, median of ``--repeats``; the ratio
column is the median of the per-repeat ratios. Torch's thread count is left at its
default unless ``--threads`` says otherwise, and printed.

Run: ``python benchmarks/bench_attacks.py [--repeats 5] [--device auto] [--steps 64] [--threads N]``.
Results are recorded in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.inspect.adversarial import pgd  # noqa: E402
from cnnplayground.inspect.maximize import MaximizeSettings, maximize  # noqa: E402

PGD_STEPS = 10
#: (preset, batch, ε) for the PGD rows; the maximize rows use (preset, conv layer).
PGD_CASES = (("lenet5", 256, 0.3), ("vgg_small", 128, 8 / 255))
MAX_CASES = (("lenet5", "conv2"), ("vgg_small", "conv2_2"))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device) -> float:
    """Seconds of one call of ``fn``, synchronized on CUDA."""
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def side_by_side(ours, base, repeats: int, device: torch.device) -> tuple[float, float, float]:
    """Median seconds of ``ours`` and ``base`` (after one warm-up each, interleaved, alternating
    which goes first) and the median of the per-repeat ratios ours / base."""
    ours(), base()
    t_ours, t_base = [], []
    for i in range(repeats):
        if i % 2:
            t_base.append(timed(base, device))
            t_ours.append(timed(ours, device))
        else:
            t_ours.append(timed(ours, device))
            t_base.append(timed(base, device))
    ratio = statistics.median(a / b for a, b in zip(t_ours, t_base, strict=True))
    return statistics.median(t_ours), statistics.median(t_base), ratio


def model_for(name: str, device: torch.device):
    torch.manual_seed(0)
    return build(get_preset(name).factory()).eval().to(device)


# --- the plain reference loops -------------------------------------------------------------------


def plain_pgd(model, x0, y, epsilon, alpha, steps, mean, std):
    """Textbook PGD under L∞ (Madry et al. 2018) with a uniform random start."""
    m = torch.tensor(mean, device=x0.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x0.device).view(1, -1, 1, 1)
    x = (x0 + torch.empty_like(x0).uniform_(-epsilon, epsilon)).clamp(0, 1)
    for _ in range(steps):
        x.requires_grad_(True)
        loss = F.cross_entropy(model((x - m) / s), y)
        (grad,) = torch.autograd.grad(loss, x)
        x = x.detach() + alpha * grad.sign()
        x = torch.min(torch.max(x, x0 - epsilon), x0 + epsilon).clamp(0, 1)
    return x.detach()


def plain_gradient(model, x0, y, mean, std):
    """One forward and backward pass of the batch: the loss gradient with respect to the input."""
    m = torch.tensor(mean, device=x0.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x0.device).view(1, -1, 1, 1)
    x = x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model((x - m) / s), y), x)
    return grad


def plain_ascent(model, shape, layer, channel, mean, std, steps, device):
    """The cost floor of activation maximization: Adam on sigmoid pixels of one image, the unit's
    value through the same model, nothing else."""
    for p in model.parameters():
        p.requires_grad_(False)
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    param = (torch.randn((1, *shape), device=device) * 0.01).requires_grad_(True)
    opt = torch.optim.Adam([param], lr=0.1)
    for _ in range(steps):
        x = (torch.sigmoid(param) - m) / s
        value = model(x)[0, channel] if layer is None else model.forward_all(x)[layer][0, channel].mean()
        opt.zero_grad()
        (-value).backward()
        opt.step()


def run_maximize(model, shape, layer, channel, mean, std, settings) -> None:
    """The app's activation maximization, run to the end (every step's image and value are made)."""
    for _ in maximize(model, shape, layer, channel, mean, std, settings):
        pass


# --- the benchmark --------------------------------------------------------------------------------


def bench_pgd(device: torch.device, repeats: int) -> list[tuple]:
    rows = []
    for name, batch, epsilon in PGD_CASES:
        model = model_for(name, device)
        shape = get_preset(name).input_shape
        mean, std = (0.5,) * shape[0], (0.5,) * shape[0]
        g = torch.Generator().manual_seed(1)
        x0 = torch.rand((batch, *shape), generator=g).to(device)
        y = torch.randint(0, 10, (batch,), generator=g).to(device)
        alpha = 2.5 * epsilon / PGD_STEPS

        ours = partial(pgd, model, x0, y, epsilon, mean, std, steps=PGD_STEPS, step_size=alpha, norm="linf")
        base = partial(plain_pgd, model, x0, y, epsilon, alpha, PGD_STEPS, mean, std)
        one = partial(plain_gradient, model, x0, y, mean, std)
        t_ours, t_base, ratio = side_by_side(ours, base, repeats, device)
        _, t_one, _ = side_by_side(one, one, repeats, device)
        rows.append((f"{name}, {batch} × {'×'.join(map(str, shape))}, ε = {epsilon:.3g}",
                     t_ours * 1000, t_base * 1000, ratio, t_one * 1000, t_ours / t_one))
    return rows


def bench_maximize(device: torch.device, repeats: int, steps: int) -> list[tuple]:
    rows = []
    for name, conv in MAX_CASES:
        shape = get_preset(name).input_shape
        mean, std = (0.5,) * shape[0], (0.5,) * shape[0]
        for layer, label in ((conv, f"{conv} channel 0"), (None, "class 0 logit")):
            for fourier in (True, False):
                model = model_for(name, device)
                settings = MaximizeSettings(steps=steps, fourier=fourier)
                what = f"{name}, {label}, {'Fourier (default)' if fourier else 'pixels'}"

                ours = partial(run_maximize, model, shape, layer, 0, mean, std, settings)
                base = partial(plain_ascent, model, shape, layer, 0, mean, std, steps, device)

                try:
                    t_ours, t_base, ratio = side_by_side(ours, base, repeats, device)
                except (RuntimeError, TypeError) as e:  # e.g. out of memory: the row says why
                    rows.append((what, device.type, None, None, None, str(e).splitlines()[0][:70]))
                    continue
                rows.append((what, device.type, steps / t_ours, steps / t_base, ratio, ""))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--steps", type=int, default=64, help="activation maximization steps per timed run")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args()
    default_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("CUDA is not available")
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    gpu = f", {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    print(f"# {platform.platform()}, torch {torch.__version__}, {torch.get_num_threads()} threads "
          f"({'default' if torch.get_num_threads() == default_threads else f'default {default_threads}'}), "
          f"device {device}{gpu}, random weights, median of {args.repeats}")

    print(f"\n## PGD-{PGD_STEPS} L∞ on a batch ({device.type})\n")
    print(f"| model, batch | ours ms | plain loop ms | ours / plain | 1 fwd+bwd ms | PGD-{PGD_STEPS} / fwd+bwd "
          "| target ≤ 1.1× |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for what, ours, base, ratio, one, multiple in bench_pgd(device, args.repeats):
        print(f"| {what} | {ours:.1f} | {base:.1f} | {ratio:.2f}× | {one:.1f} | {multiple:.1f}× "
              f"| {'met' if ratio <= 1.1 else 'NOT met'} |")

    print(f"\n## Activation maximization, one image, {args.steps} steps per run\n")
    print("| model, unit, parameterization | device | ours steps/s | plain Adam steps/s | ours / plain (time) | |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    for dev in devices:
        for what, dev_name, ours, base, ratio, note in bench_maximize(dev, args.repeats, args.steps):
            if ours is None:
                print(f"| {what} | {dev_name} | n/a | | | not supported: {note} |")
            else:
                print(f"| {what} | {dev_name} | {ours:.0f} | {base:.0f} | {ratio:.2f}× | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
