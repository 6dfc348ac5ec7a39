"""Run the benchmark suite with one command and print one table.

Each benchmark runs in its own process (its thread settings, Qt application and memory stay
its own) and reports a ``RESULT {json}`` line that becomes rows here; ``bench_attacks.py``
prints Markdown tables, whose rows are taken over as they are.

- **trainer**: ``bench_trainer.py``: images/s of a plain loop, the trainer and a DataLoader
  loop for LeNet-5 (MNIST, else the synthetic set), a small VGG (``vgg_small``) and a small
  ResNet (``resnet20_cifar``) on 3×32×32 synthetic images; FLOPs per image of a training step
  and the trainer's achieved FLOP/s (and its share of the GPU's peak on CUDA);
- **time to accuracy**: ``bench_time_to_accuracy.py``: wall time until the validation accuracy
  reaches 99 % on MNIST and 95 % on the synthetic set, trainer against a plain loop, capped;
- **GUI overhead**: ``bench_gui_latency.py`` (offscreen Qt): timer lateness and throughput while
  training in a session and in the whole window;
- **analysis speed**: ``bench_inspect.py`` (feature maps, effective field, occlusion) and
  ``bench_attacks.py`` (PGD, activation maximization);
- **folder stream**: ``bench_folder_stream.py``: images/s of an image folder of 20,000 small JPEGs
  loaded in memory, streamed from disk (first pass: decode and cache; later: the cache), and of an
  epoch of batches from memory and from the memory-mapped cache.
- **epoch slider**: ``bench_epoch_slider.py`` (offscreen Qt): Kernels and Feature Maps redrawn after a move
  of the epoch slider, LeNet-5 and ResNet-18 at 32×32;
- **import**: ``bench_import.py``: importing torchvision's ResNet-50 and DenseNet-121 onto the canvas
  (trace, mapping, weights, layout), first and median time.
- **layer health**: ``bench_health.py``: training throughput with layer health recorded and without
  (the overhead; target ≤ 3 %);
- **feature map**: ``bench_embedding.py``: the Feature Space map of 2,000 MNIST test images with LeNet-5:
  features, then PCA or t-SNE, on 1 and 2 CPU threads;

Usage::

    python benchmarks/run_all.py                  # the full suite on the CPU (many minutes; a quiet machine)
    python benchmarks/run_all.py --tiny           # everything at a tiny size, a smoke test (well under a minute)
    python benchmarks/run_all.py --device cuda    # on a GPU: images/s (bf16), time to 99 % on MNIST,
                                                  # FLOP/s utilisation (--peak-tflops to override the table),
                                                  # plus the speedrun network and torch.compile

MNIST rows are skipped, with a note, when ``../shared/datasets`` has no MNIST. The exit
code is 1 when a benchmark failed (its row says how), else 0. ``--tiny`` figures come from
a few batches on a shared machine: they show that everything runs, not how fast.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "datasets"
HEADERS = ("benchmark", "case", "measure", "value", "note")
CIFAR_NETS = "vgg_small,resnet20_cifar"
#: bench_attacks.py at a tiny size: its PGD batches (256 and 128 images, fixed) cut to 16 images.
TINY_ATTACKS = (
    "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = ['bench_attacks.py', *sys.argv[2:]]\n"
    "import bench_attacks as b\n"
    "if hasattr(b, 'PGD_CASES'):\n"
    "    b.PGD_CASES = tuple((name, min(batch, 16), *rest) for name, batch, *rest in b.PGD_CASES)\n"
    "raise SystemExit(b.main())"
)


@dataclass
class Job:
    name: str
    script: str
    args: list[str]
    #: Python code run instead of the script (``python -c CODE benchmarks_dir ARGS``).
    inline: str | None = None
    rows: list[tuple[str, ...]] = field(default_factory=list)
    seconds: float = 0.0
    failed: str = ""


def plan(args: argparse.Namespace) -> list[Job]:
    """The benchmarks to run, with their options for this mode."""
    dev = ["--device", args.device]
    peak = ["--peak-tflops", str(args.peak_tflops)] if args.peak_tflops else []
    if args.tiny:
        return [
            Job("trainer", "bench_trainer.py", ["--model", f"lenet5,{CIFAR_NETS}", "--train-size", "128",
                                                "--batch-size", "64", "--epochs", "1", "--repeats", "1", *dev,
                                                *peak]),
            Job("time to accuracy", "bench_time_to_accuracy.py", ["--train-size", "2000", "--epochs", "2",
                                                                  "--cap", "10", "--target", "0.5", *dev]),
            Job("GUI overhead", "bench_gui_latency.py", ["--epochs", "1", "--train-size", "600", "--idle-seconds",
                                                         "0.5", "--device", "cpu" if args.device == "auto"
                                                         else args.device]),
            Job("inspect", "bench_inspect.py", ["--repeats", "1"]),
            Job("attacks", "bench_attacks.py", ["--repeats", "1", "--steps", "2", *dev], inline=TINY_ATTACKS),
            Job("folder stream", "bench_folder_stream.py", ["--images", "300", "--rounds", "1"]),
            Job("import", "bench_import.py", ["--models", "resnet18", "--side", "64", "--repeats", "1"]),
            Job("epoch slider", "bench_epoch_slider.py", ["--models", "lenet5", "--epochs", "3"]),
            Job("layer health", "bench_health.py", ["--model", "lenet5", "--train-size", "256", "--steps", "3",
                                                    "--device", "cpu"]),
            Job("feature map", "bench_embedding.py", ["--images", "150", "--threads", "1", "--repeats", "1"]),
        ]
    if args.device == "cuda":
        return [
            Job("trainer", "bench_trainer.py", ["--model", f"lenet5,{CIFAR_NETS},speedrun_cifar", "--amp", *dev,
                                                *peak]),
            Job("trainer, compiled", "bench_trainer.py", ["--model", "resnet20_cifar,speedrun_cifar", "--amp",
                                                          "--compile", "--repeats", "1", *dev, *peak]),
            Job("time to accuracy", "bench_time_to_accuracy.py", ["--amp", *dev]),
            Job("GUI overhead", "bench_gui_latency.py", dev),
            Job("inspect", "bench_inspect.py", []),
            Job("attacks", "bench_attacks.py", dev),
            Job("folder stream", "bench_folder_stream.py", []),
            Job("import", "bench_import.py", []),
            Job("layer health", "bench_health.py", ["--model", f"lenet5,{CIFAR_NETS}", "--repeats", "3", *dev]),
        ]
    return [
        Job("trainer", "bench_trainer.py", ["--model", "lenet5", *dev, *peak]),
        Job("trainer", "bench_trainer.py", ["--model", CIFAR_NETS, "--train-size", "5000", *dev, *peak]),
        Job("time to accuracy", "bench_time_to_accuracy.py", dev),
        Job("GUI overhead", "bench_gui_latency.py", ["--device", "cpu" if args.device == "auto" else args.device]),
        Job("inspect", "bench_inspect.py", []),
        Job("attacks", "bench_attacks.py", dev),
        Job("folder stream", "bench_folder_stream.py", []),
        Job("import", "bench_import.py", []),
        Job("epoch slider", "bench_epoch_slider.py", []),
        Job("layer health", "bench_health.py", ["--device", "cpu" if args.device == "auto" else args.device]),
        Job("feature map", "bench_embedding.py", []),
    ]


def run(job: Job, timeout: float) -> Job:
    extra = [] if job.script == "bench_attacks.py" else ["--json"]
    command = ([sys.executable, "-c", job.inline, str(HERE)] if job.inline
               else [sys.executable, str(HERE / job.script)])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([*command, *job.args, *extra], capture_output=True, text=True, timeout=timeout,
                              cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        job.failed = f"timed out after {timeout:g} s"
    else:
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            job.failed = f"exit code {proc.returncode}: {last[:160]}"
        else:
            job.rows = rows_of(job, proc.stdout)
    job.seconds = time.perf_counter() - t0
    if job.failed:
        job.rows = [(job.name, job.script, "FAILED", "", job.failed)]
    return job


# --- turning each benchmark's output into rows --------------------------------------------------------


def rows_of(job: Job, stdout: str) -> list[tuple[str, ...]]:
    if job.script == "bench_attacks.py":
        return markdown_rows(job.name, stdout)
    results = [json.loads(line[len("RESULT "):]) for line in stdout.splitlines() if line.startswith("RESULT ")]
    if not results:
        return [(job.name, job.script, "no result", "", "the benchmark printed no RESULT line")]
    out: list[tuple[str, ...]] = []
    for r in results:
        out += {"trainer": trainer_rows, "time_to_accuracy": accuracy_rows, "gui_latency": gui_rows,
                "inspect": inspect_rows, "folder_stream": folder_rows, "import": import_rows,
                "epoch_slider": epoch_slider_rows, "health": health_rows,
                "embedding": embedding_rows}[r["bench"]](job.name, r)
    return out


def trainer_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    case = f"{r['model']} on {r['dataset']} ({r['images']:,} img, {r['device']}{' bf16' if r['amp'] else ''})"
    rows = [(name, case, "images/s: plain / trainer / DataLoader",
             f"{r['plain_ips']:,.0f} / {r['trainer_ips']:,.0f} / {r['dataloader_ips']:,.0f}",
             f"trainer/plain {r['trainer_ips'] / r['plain_ips']:.2f}×, trainer/DataLoader "
             f"{r['trainer_ips'] / r['dataloader_ips']:.2f}×")]
    util = (f"{r['utilisation']:.2%} of {r['peak_tflops']:g} TFLOP/s peak" if r["utilisation"] is not None
            else "no peak known (pass --peak-tflops)")
    rows.append((name, case, "training FLOPs/image, trainer FLOP/s",
                 f"{r['flops_per_image'] / 1e6:,.1f} MFLOP, {r['achieved_tflops'] * 1e3:,.1f} GFLOP/s", util))
    if r.get("compile_seconds"):
        rows.append((name, case, "torch.compile time (not in images/s)",
                     " / ".join(f"{s:.1f} s" for s in r["compile_seconds"]), "trainer compiled, loops eager"))
    return rows


def accuracy_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    case = f"LeNet-5 on {r['dataset']} to {r['target']:.0%} ({r['device']})"
    if r.get("skipped"):
        return [(name, case, "time to target: trainer / plain", "skipped", r["skipped"])]

    def when(seconds, epochs, best):
        return f"{seconds:.1f} s" if seconds is not None else f"not reached (best {best:.1%})"

    return [(name, case, "time to target: trainer / plain",
             f"{when(r['trainer_seconds'], r['trainer_epochs'], r['trainer_best'])} / "
             f"{when(r['plain_seconds'], r['plain_epochs'], r['plain_best'])}",
             f"epochs {r['trainer_epochs']} / {r['plain_epochs']}, cap {r['cap_seconds']:g} s, "
             f"{r['train_images']:,} train images")]


def gui_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    case = f"LeNet-5, {r['train_images']:,} img, {r['epochs']} epoch(s), {r['device']}"
    return [
        (name, case, "5 ms timer lateness p99: idle / session / window first run / window again",
         f"{r['idle_p99_ms']:.2f} / {r['session_p99_ms']:.2f} / {r['window_first_p99_ms']:.2f} / "
         f"{r['window_p99_ms']:.2f} ms", "targets: < 50 ms and ≤ 2× idle"),
        (name, case, "throughput vs headless: session / window first run / window again",
         f"{r['session_throughput_ratio']:.2f}× / {r['window_first_throughput_ratio']:.2f}× / "
         f"{r['window_throughput_ratio']:.2f}×", "target ≥ 0.9×"),
    ]


def inspect_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    return [(name, "vgg_small, CPU", row["analysis"], f"{row['ms']:.1f} ms",
             f"{row['baseline']}: {row['baseline_ms']:.1f} ms ({row['ms'] / row['baseline_ms']:.2f}×)")
            for row in r["rows"]]


def folder_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    case = f"{r['images']:,} JPEGs {r['size']}×{r['size']}, {r['workers']} workers, load {r['load']:.1f}"
    ips = r["ips"]
    return [
        (name, case, "images/s loading: in memory / streamed first pass (workers, here) / streamed later",
         f"{ips['memory_load']:,.0f} / {ips['stream_first']:,.0f}, {ips['stream_first_here']:,.0f} / "
         f"{ips['stream_later']:,.0f}", f"median of {r['rounds']}; first pass = decode + write the cache"),
        (name, case, "images/s of an epoch (DeviceLoader, CPU): memory / memmap",
         f"{ips['epoch_memory']:,.0f} / {ips['epoch_memmap']:,.0f}", "the cache file is in the page cache"),
    ]


def import_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    return [(name, f"torchvision {row['model']}, 3×{r['side']}×{r['side']}, CPU", "import: first / median",
             f"{row['cold_s']:.2f} s / {row['median_s']:.2f} s",
             f"{row['layers']} layers, {row['params']:,} parameters"
             + (f"; target < {row['target_s']:g} s" if row.get("target_s") else ""))
            for row in r["rows"]]


def epoch_slider_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    return [(name, f"{row['network']}, {row['panel']}, CPU", "redraw after a slider move: first visit / cached (max)",
             f"{row['first_max_ms']:.0f} ms / {row['cached_max_ms']:.0f} ms",
             f"median {row['first_median_ms']:.0f} / {row['cached_median_ms']:.0f} ms; "
             f"target ≤ {row['target_ms']:.0f} ms")
            for row in r["rows"]]


def health_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    case = f"{r['model']} on {r['dataset']} ({r['images']:,} img, {r['steps_per_epoch']} steps/epoch, {r['device']})"
    rows = [(name, case, "step: plain / sampled; epoch bookkeeping",
             f"{r['plain_step_s'] * 1e3:.2f} / {r['sampled_step_s'] * 1e3:.2f} ms; {r['bookkeeping_s'] * 1e3:.2f} ms",
             f"overhead {r['overhead']:.2%} of this epoch, {r['overhead_60k']:.3%} of a 60,000-image one "
             f"(target ≤ 3 %); without the distributions {r['overhead_no_dist']:.2%}, "
             f"{r['overhead_60k_no_dist']:.3%}")]
    if r.get("off_ips"):
        rows.append((name, case, "images/s: health off / on", f"{r['off_ips']:,.0f} / {r['on_ips']:,.0f}",
                     f"end to end {r['end_to_end_overhead']:+.1%}, median of {r['repeats']}"))
    return rows


def embedding_rows(name: str, r: dict) -> list[tuple[str, ...]]:
    return [(name, f"lenet5, {r['images']:,} {r['dataset']} images, {row['method'].upper()}, {row['threads']} "
             f"thread{'s' if row['threads'] > 1 else ''}", "time: features + projection = total",
             f"{row['features_s']:.2f} + {row['projection_s']:.2f} = {row['total_s']:.2f} s",
             f"median of {r['repeats']}; t-SNE import {r['tsne_import_s']:.1f} s once")
            for row in r["rows"]]


def markdown_rows(name: str, stdout: str) -> list[tuple[str, ...]]:
    """Rows of every Markdown table in ``stdout``: the first cell is the case, the rest ``header: cell``."""
    lines = [line.strip() for line in stdout.splitlines()]
    rows: list[tuple[str, ...]] = []
    headers: list[str] = []
    section = ""
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.startswith("|"):
            headers = []
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            headers = cells
            continue
        if line.startswith("| ---") or not headers:
            continue
        value = "; ".join(f"{h}: {c}" for h, c in zip(headers[1:], cells[1:]) if c and h)
        rows.append((name, cells[0], section or "table row", value, ""))
    return rows or [(name, "bench_attacks.py", "no table", "", "no Markdown table found in its output")]


# --- output ----------------------------------------------------------------------------------------------


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(HEADERS, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="everything at a tiny size: a smoke test, not figures")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak for the utilisation estimate "
                    "(default: the dense bf16 datasheet figure of a known GPU)")
    ap.add_argument("--jobs", type=int, default=None, help="benchmarks at once (default 1; --tiny: 2). More than "
                    "one makes them compete for the cores: only for smoke tests")
    ap.add_argument("--only", default="", help="run only these benchmarks (comma-separated names, e.g. trainer)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per benchmark (default: 120 tiny, "
                    "3600 otherwise)")
    args = ap.parse_args(argv)
    jobs = plan(args)
    if args.only:
        wanted = {w.strip() for w in args.only.split(",")}
        jobs = [j for j in jobs if j.name in wanted or j.name.split(",")[0] in wanted]
    parallel = args.jobs or (2 if args.tiny else 1)
    timeout = args.timeout or (120.0 if args.tiny else 3600.0)
    when = datetime.datetime.now().astimezone().isoformat(timespec="minutes")
    mode = "tiny (smoke test: figures from a few batches, not measurements)" if args.tiny else "full"
    print(f"# benchmark suite, {mode}; device {args.device}; {platform.platform()}; Python "
          f"{platform.python_version()}; {os.cpu_count()} cores; {when}")
    if not (SHARED / "MNIST" / "raw").is_dir():
        print(f"# no MNIST files in {SHARED}: MNIST rows are skipped (the trainer row uses the synthetic set)")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(parallel, 1)) as pool:
        done = list(pool.map(lambda job: run(job, timeout), jobs))
    rows = [row for job in done for row in job.rows]
    print()
    print_table(rows)
    print()
    for job in done:
        how = " (PGD batches cut to 16 images)" if job.inline else ""
        print(f"# {job.name} ({job.script} {' '.join(job.args)}{how}): {job.seconds:.1f} s"
              + (f", FAILED: {job.failed}" if job.failed else ""))
    print(f"# total {time.perf_counter() - t0:.1f} s")
    return 1 if any(job.failed for job in done) else 0


if __name__ == "__main__":
    raise SystemExit(main())
