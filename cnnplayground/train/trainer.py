"""The trainer: a generator of events, controllable between any two steps.

``Trainer.run()`` yields :mod:`.events` as training goes. The CLI iterates it,
the GUI runs it in a worker thread, tests iterate it directly. ``pause()``,
``resume()`` and ``stop()`` may be called from any thread; they take effect
before the next optimizer step. While paused, the generator blocks inside
``next()`` (on a condition variable, no polling) until resumed or stopped, so
call ``resume()`` from another thread or before asking for the next event.

Hot-loop rules (DESIGN.md, "Speed by design"): batches are index slices of
device-resident data; the loss sum and the correct count are accumulated on
the device (the loss is never negative, so a non-finite sum is the divergence
flag) and read back only when a step event is due (a bounded number of times
per second) and at the end of each epoch. ``config.compile`` and the automatic
CUDA settings are in :mod:`.fastpath`.

Failures never lose work: a NaN/Inf loss or out-of-memory ends the run with a
:class:`~.events.Failed` event and the model holding the last good weights
(checked at the last step event or epoch end before the failure).

Keep the best epoch (``config.restore_best``, on by default, Keras' ``restore_best_weights``): a
run that completes, stops early or is stopped ends with the weights of its best validation epoch
by ``config.early_stopping_metric`` (a CPU copy taken at each new best), and its
:class:`~.events.Finished` names that epoch (``kept_epoch``, and in its message).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import UserError, one_line
from ..data.balance import loss_weights
from ..data.base import ImageData
from ..data.loader import DeviceLoader
from ..project import TrainingConfig
from .adversarial import adversarial_batch
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .evaluate import Evaluation, evaluate
from .events import (
    CheckpointFailed,
    CheckpointSaved,
    Compiled,
    EpochFinished,
    Event,
    Failed,
    Finished,
    LayerHealth,
    Paused,
    Resumed,
    RunStarted,
    StepFinished,
    WeightsSnapshot,
)
from .fastpath import compile_for_training, cudnn_autotune, mark_graph_step
from .health import HealthRecorder
from .optim import base_learning_rate, l1_penalty, lr_factor, make_optimizer, param_groups, set_learning_rate

log = logging.getLogger(__name__)

#: Refresh the in-memory copy of the last good weights at most this often within an epoch (seconds).
GOOD_WEIGHTS_INTERVAL = 2.0


class TrainingSetupError(UserError, ValueError):
    """The run cannot start (device missing, bad checkpoint); one line for the user."""


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` → CUDA, then MPS, then CPU; a named device must exist."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainingSetupError("CUDA was asked for but no CUDA GPU is available: choose 'auto' or 'cpu'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainingSetupError("MPS was asked for but is not available: choose 'auto' or 'cpu'")
    return torch.device(name)


class Trainer:
    """Trains ``model`` on ``data`` with ``config``; see the module docstring.

    ``step_event_every``: emit a step event every N steps (deterministic, for
    tests and scripts) instead of ``events_per_second`` times a second.
    ``checkpoint_dir``: where ``last.ckpt`` is written every
    ``config.checkpoint_every`` epochs. ``resume_from``: a checkpoint to continue.
    ``snapshot_every_epoch``: yield a :class:`WeightsSnapshot` after each epoch.
    ``teacher``: a model whose softened predictions the network also learns from
    (knowledge distillation, see :meth:`_distilled`; ``distill_alpha`` weighs that
    term, ``distill_temperature`` softens both); it is never trained, and is taken over for the run:
    moved to the device, put in eval mode, its parameters' gradients switched off.
    ``record_health``: measure layer health (:mod:`.health`) on one step per epoch, the last with a full
    batch; each :class:`EpochFinished` carries it in ``health``.
    """

    def __init__(
        self,
        model: nn.Module,
        data: ImageData,
        config: TrainingConfig,
        *,
        device: str | torch.device | None = None,
        checkpoint_dir: Path | None = None,
        resume_from: Path | None = None,
        step_event_every: int | None = None,
        events_per_second: float = 20.0,
        snapshot_every_epoch: bool = False,
        teacher: nn.Module | None = None,
        distill_alpha: float = 0.9,
        distill_temperature: float = 4.0,
        record_health: bool = True,
    ) -> None:
        if teacher is not None and not (0.0 <= distill_alpha <= 1.0 and distill_temperature > 0):
            raise TrainingSetupError(f"distillation needs 0 <= alpha <= 1 and a positive temperature, got "
                                     f"alpha {distill_alpha:g} and temperature {distill_temperature:g}")
        self.model = model
        self.teacher = teacher
        self.distill_alpha = float(distill_alpha)
        self.distill_temperature = float(distill_temperature)
        self.data = data
        self.config = config.model_copy(deep=True)
        self.device = resolve_device(device if device is not None else config.device)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.step_event_every = step_event_every
        self.event_interval = 1.0 / events_per_second if events_per_second > 0 else 0.0
        self.snapshot_every_epoch = snapshot_every_epoch
        self.record_health = record_health
        self.history: list[EpochFinished] = []
        self.state = "idle"
        self._cond = threading.Condition()
        self._pause_requested = False
        self._stop_requested = False
        self._snapshot_requested = False
        self._resume_state: dict[str, Any] | None = None
        #: The run's optimizer once it has started (one parameter group per layer learning-rate factor).
        self.optimizer: torch.optim.Optimizer | None = None
        if not param_groups(model):
            raise TrainingSetupError("there is nothing to train: every layer with weights is frozen or has "
                                     "LR × 0; unfreeze a layer")
        if resume_from is not None:
            try:
                self._resume_state = load_checkpoint(Path(resume_from))
            except CheckpointError as exc:
                raise TrainingSetupError(str(exc)) from None
            _check_fits(self._resume_state, model)
        if self.checkpoint_dir is not None:
            try:
                self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TrainingSetupError(
                    f"cannot use {self.checkpoint_dir} for checkpoints: {exc.strerror or exc}") from None

    # --- control (any thread) -----------------------------------------------------------
    def pause(self) -> None:
        with self._cond:
            self._pause_requested = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._pause_requested = False
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop_requested = True
            self._cond.notify_all()

    def request_snapshot(self) -> None:
        """Ask for a :class:`WeightsSnapshot` event before the next step."""
        self._snapshot_requested = True

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested

    # --- the run -----------------------------------------------------------------------
    def run(self) -> Generator[Event, None, None]:
        self.state = "running"
        try:
            with cudnn_autotune(self.device):  # on CUDA; the previous setting is restored after the run
                yield from self._run()
        finally:
            if self.state in ("running", "paused"):
                self.state = "finished"

    def _run(self) -> Iterator[Event]:
        cfg, dev, model, data = self.config, self.device, self.model, self.data
        torch.manual_seed(cfg.seed)
        model.to(dev)
        if dev.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules()):
            model.to(memory_format=torch.channels_last)
        channels_last = dev.type == "cuda"
        train_loader = DeviceLoader(
            data.train, mean=data.mean, std=data.std, batch_size=cfg.batch_size, device=dev, shuffle=True,
            augment=cfg.augment if cfg.augment.enabled else None, seed=cfg.seed, channels_last=channels_last,
        )
        val_loader = DeviceLoader(
            data.val, mean=data.mean, std=data.std, batch_size=max(cfg.batch_size, 512), device=dev,
            shuffle=False, channels_last=channels_last,
        )
        steps_per_epoch = max(len(train_loader), 1)
        opt = self.optimizer = make_optimizer(model, cfg, dev)
        amp_dtype = _autocast_dtype(cfg, dev)
        scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
        # Both the compiled full batches and the eager ones step on this loss; validation stays unweighted.
        weight = loss_weights(cfg.class_weights, data.train.labels, data.num_classes)
        criterion = nn.CrossEntropyLoss(weight=None if weight is None else weight.to(dev),
                                        label_smoothing=cfg.label_smoothing)
        teacher = self.teacher
        if teacher is not None:
            teacher.to(dev).eval().requires_grad_(False)
        pixel_mean = torch.tensor(data.mean, dtype=torch.float32, device=dev).view(1, -1, 1, 1)
        pixel_std = torch.tensor(data.std, dtype=torch.float32, device=dev).view(1, -1, 1, 1)

        run = _RunState()
        if self._resume_state is not None:
            try:
                self._restore(self._resume_state, run, opt, scaler, train_loader)
            except TrainingSetupError as exc:
                self.state = "failed"
                yield Failed(kind="error", message=str(exc), epoch=0, step=0)
                return
        good = _WeightsCopy(model, data.num_classes)
        yield RunStarted(
            epochs=cfg.epochs, steps_per_epoch=steps_per_epoch, device=str(dev), train_images=len(data.train),
            val_images=len(data.val), parameters=sum(p.numel() for p in model.parameters()),
            start_epoch=run.epoch, precision=str(amp_dtype).replace("torch.", "") if amp_dtype else "float32",
            compiling=cfg.compile,
        )
        # Full training batches go through the compiled network when config.compile is on (see fastpath).
        fast: nn.Module | None = None
        if cfg.compile:
            fast, compiled = self._compile(amp_dtype, channels_last)
            yield compiled
        t_run = time.perf_counter()
        health = HealthRecorder(model) if self.record_health else None
        # The last step with a full batch (a short last batch would make "never fired" too easy).
        sample_step = min(max(len(data.train) // cfg.batch_size, 1), steps_per_epoch)
        try:
            for epoch in range(run.epoch + 1, cfg.epochs + 1):
                model.train()
                t_epoch = time.perf_counter()
                loss_sum = torch.zeros((), device=dev)
                correct = torch.zeros((), device=dev, dtype=torch.int64)
                window = _Window(time.perf_counter(), 0, 0.0, 0.0)
                seen = 0
                if health is not None:
                    health.start_epoch()
                for epoch_step, (x, y) in enumerate(train_loader, 1):
                    stop = yield from self._control_point(epoch, run.step)
                    if stop:
                        yield from self._finish_stopped(run, loss_sum, good, epoch)
                        return
                    if self._snapshot_requested:
                        self._snapshot_requested = False
                        yield WeightsSnapshot(epoch, run.step, _cpu_state(model))
                    lr = cfg.learning_rate * lr_factor(cfg, run.step, steps_per_epoch, run.plateau_factor)
                    set_learning_rate(opt, lr)
                    ctx = torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
                    if cfg.adversarial != "none":
                        # Replace a share of the batch by attacks on the current weights (eval mode, input
                        # gradients only: no parameter .grad is written, see adversarial_batch). The step
                        # below sees only the loss on this mixed batch, and the training loss and accuracy
                        # reported are those of the mixed batch.
                        with torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext():
                            x = adversarial_batch(
                                model, x, y, method=cfg.adversarial, epsilon=cfg.adversarial_epsilon,
                                steps=cfg.adversarial_steps, fraction=cfg.adversarial_fraction, mean=pixel_mean,
                                std=pixel_std,
                            )
                    sampled = health is not None and epoch_step == sample_step
                    with ctx, health.sampling() if health is not None and sampled else contextlib.nullcontext():
                        if fast is not None and len(y) == cfg.batch_size and not sampled:
                            mark_graph_step(dev)
                            logits = fast(x)
                        else:
                            logits = model(x)
                        loss = criterion(logits, y)
                        if teacher is not None:
                            loss = self._distilled(loss, logits, teacher, x)
                        if cfg.l1 > 0:
                            loss = loss + cfg.l1 * l1_penalty(model)
                    opt.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        if health is not None and sampled:
                            health.after_backward(float(scaler.get_scale()))
                        if cfg.grad_clip > 0:
                            scaler.unscale_(opt)
                            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        scaler.step(opt)
                        scaler.update()
                    else:
                        loss.backward()
                        if health is not None and sampled:
                            health.after_backward()
                        if cfg.grad_clip > 0:
                            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                        opt.step()
                    run.step += 1
                    n = len(y)
                    seen += n
                    # The loss is never negative, so a NaN or infinite loss leaves the sum non-finite for
                    # good: the sum is the only "diverged" flag needed (checked when it is read back).
                    loss_sum += loss.detach().float() * n
                    correct += (logits.detach().argmax(1) == y).sum()
                    if self._step_event_due(epoch_step, steps_per_epoch, window):
                        loss_v, correct_v = torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()
                        images = seen - window.images
                        window_loss = (loss_v - window.loss) / max(images, 1)
                        if not math.isfinite(loss_v) or not good.healthy(window_loss):
                            yield self._fail_nan(good, epoch, run.step, lr)
                            return
                        now = time.perf_counter()
                        # Weights proposed at the previous check have now produced sane losses.
                        good.confirm()
                        if now - good.taken >= GOOD_WEIGHTS_INTERVAL:
                            good.propose(model)
                        yield StepFinished(
                            epoch=epoch, step=run.step, epoch_step=epoch_step, steps_per_epoch=steps_per_epoch,
                            loss=window_loss,
                            accuracy=(correct_v - window.correct) / max(images, 1),
                            learning_rate=lr, images_per_second=images / max(now - window.time, 1e-9),
                            elapsed=now - t_run,
                        )
                        window = _Window(now, seen, loss_v, correct_v)
                # --- end of epoch ---
                loss_v, correct_v = torch.stack([loss_sum, correct.to(loss_sum.dtype)]).tolist()
                lr_now = base_learning_rate(opt)
                if not math.isfinite(loss_v):
                    yield self._fail_nan(good, epoch, run.step, lr_now)
                    return
                val = evaluate(model, val_loader, data.num_classes, autocast_dtype=amp_dtype,
                               tta_flip=cfg.tta_flip) if len(data.val) else None
                if val is not None and not good.healthy(val.loss):
                    yield self._fail_nan(good, epoch, run.step, lr_now, where="validation ")
                    return
                seconds = time.perf_counter() - t_epoch
                best = run.update_best(cfg, epoch, val, model)
                run.update_plateau(cfg, val)
                event = _epoch_event(epoch, run.step, loss_v / max(seen, 1), correct_v / max(seen, 1), val,
                                     data.num_classes, lr_now, seconds, seen, best,
                                     health.end_epoch() if health is not None else ())
                self.history.append(event)
                run.epoch = epoch
                if val is not None or good.healthy(loss_v / max(seen, 1)):
                    good.accept(model)  # validated just now: these weights are good
                yield event
                if self.checkpoint_dir is not None and cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0:
                    path = self.checkpoint_dir / "last.ckpt"
                    try:
                        save_checkpoint(self._checkpoint_state(run, opt, scaler, train_loader), path)
                    except OSError as exc:
                        yield CheckpointFailed(epoch, str(path), f"could not write the checkpoint {path}: "
                                               f"{exc.strerror or exc}; training goes on without it")
                    else:
                        yield CheckpointSaved(epoch, str(path))
                if self.snapshot_every_epoch:
                    yield WeightsSnapshot(epoch, run.step, _cpu_state(model))
                if run.should_stop_early(cfg):
                    kept = self._keep_best(run)
                    self.state = "finished"  # as the final event is seen, like a stopped run's
                    yield Finished(
                        reason="early_stopping", epochs_completed=epoch, step=run.step, best_epoch=run.best_epoch,
                        best_value=run.best_value,
                        message=f"stopped early: {cfg.early_stopping_metric} did not improve for "
                        f"{cfg.early_stopping_patience} epochs" + best_epoch_text(cfg, run.best_epoch,
                                                                                  run.best_value, kept),
                        kept_epoch=kept,
                    )
                    return
            kept = self._keep_best(run)
            self.state = "finished"
            yield Finished(
                reason="completed", epochs_completed=run.epoch, step=run.step, best_epoch=run.best_epoch,
                best_value=run.best_value, kept_epoch=kept,
                message=f"finished {run.epoch} epochs" + best_epoch_text(cfg, run.best_epoch, run.best_value, kept),
            )
        except torch.OutOfMemoryError:
            yield self._fail_oom(good, run)
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
                yield self._fail_oom(good, run)
            else:
                yield self._fail_error(exc, good, run)
        except Exception as exc:  # noqa: BLE001 - any failure ends the run with a message, weights kept
            yield self._fail_error(exc, good, run)

    def _compile(self, amp_dtype: torch.dtype | None, channels_last: bool) -> tuple[nn.Module | None, Compiled]:
        """``torch.compile`` the model now (``config.compile``); the compiled module or None, and the event."""
        bs, shape = self.config.batch_size, tuple(self.data.train.images.shape[1:])
        if len(self.data.train) < bs:
            return None, Compiled(0.0, False, f"torch.compile skipped: the training set ({len(self.data.train)} "
                                  f"images) is smaller than one batch ({bs}), and only full batches are compiled")
        result = compile_for_training(self.model, (bs, *shape), self.device, autocast_dtype=amp_dtype,
                                      channels_last=channels_last)
        if result.module is None:
            log.warning("%s", result.message)
        return result.module, Compiled(result.seconds, result.module is not None, result.message)

    def _distilled(self, loss: torch.Tensor, logits: torch.Tensor, teacher: nn.Module,
                   x: torch.Tensor) -> torch.Tensor:
        """Knowledge distillation (Hinton et al., 2015): ``(1 - alpha) * loss + alpha * T^2 * KL(teacher_T ||
        student_T)``, both softened by the temperature T; the teacher sees the same (augmented) batch."""
        t = self.distill_temperature
        with torch.no_grad():
            soft = torch.log_softmax(teacher(x).float() / t, dim=1)
        kl = nn.functional.kl_div(torch.log_softmax(logits.float() / t, dim=1), soft, log_target=True,
                                  reduction="batchmean")
        return (1.0 - self.distill_alpha) * loss + self.distill_alpha * t * t * kl

    # --- between steps -------------------------------------------------------------------
    def _control_point(self, epoch: int, step: int) -> Generator[Paused | Resumed, None, bool]:
        """Handle pause/stop; returns True when the run must stop (a sub-generator)."""
        if self._stop_requested:
            return True
        if not self._pause_requested:
            return False
        self.state = "paused"
        yield Paused(epoch, step)
        with self._cond:
            while self._pause_requested and not self._stop_requested:
                self._cond.wait()
        if self._stop_requested:
            return True
        self.state = "running"
        yield Resumed(epoch, step)
        return False

    def _step_event_due(self, epoch_step: int, steps_per_epoch: int, window: _Window) -> bool:
        if epoch_step == steps_per_epoch:
            return False  # the epoch event follows at once
        if self.step_event_every is not None:
            return epoch_step % self.step_event_every == 0
        return time.perf_counter() - window.time >= self.event_interval

    def _finish_stopped(
        self, run: _RunState, loss_sum: torch.Tensor, good: _WeightsCopy, epoch: int
    ) -> Iterator[Failed | Finished]:
        if not math.isfinite(float(loss_sum)):
            yield self._fail_nan(good, epoch, run.step, self.config.learning_rate)
            return
        kept = self._keep_best(run)
        self.state = "finished"
        yield Finished(
            reason="stopped", epochs_completed=run.epoch, step=run.step, best_epoch=run.best_epoch,
            best_value=run.best_value, kept_epoch=kept,
            message=f"stopped by the user during epoch {epoch}"
            + best_epoch_text(self.config, run.best_epoch, run.best_value, kept),
        )

    def _keep_best(self, run: _RunState) -> int | None:
        """Set the model back to its best epoch's weights (``config.restore_best``, Keras'
        ``restore_best_weights``); that epoch, or None when the model keeps the last step's weights."""
        if not self.config.restore_best or run.best_state is None or run.best_epoch is None:
            return None
        self.model.load_state_dict(run.best_state)
        return run.best_epoch

    # --- failures ------------------------------------------------------------------------
    def _fail_nan(self, good: _WeightsCopy, epoch: int, step: int, lr: float, where: str = "") -> Failed:
        good.restore(self.model)
        self.state = "failed"
        return Failed(
            kind="nan", epoch=epoch, step=step,
            message=f"the {where}loss became NaN, infinite or exploded in epoch {epoch} (near step {step}) at "
            "learning rate "
            f"{lr:.3g}: training diverged. Try a learning rate about 10× lower ({lr / 10:.3g}), gradient "
            "clipping, or batch normalization. The last good weights were kept.",
        )

    def _fail_oom(self, good: _WeightsCopy, run: _RunState) -> Failed:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        good.restore(self.model)
        self.state = "failed"
        bs = self.config.batch_size
        return Failed(
            kind="out_of_memory", epoch=run.epoch + 1, step=run.step,
            message=f"out of memory on {self.device.type.upper()} with batch size {bs}: try a batch size of "
            f"{max(bs // 2, 1)} or a smaller network. The last good weights were kept.",
        )

    def _fail_error(self, exc: BaseException, good: _WeightsCopy, run: _RunState) -> Failed:
        log.exception("training failed")
        good.restore(self.model)
        self.state = "failed"
        return Failed(kind="error", epoch=run.epoch + 1, step=run.step,
                      message=f"training failed: {one_line(exc, with_type=True)}. The last good weights were kept.")

    # --- checkpoints ---------------------------------------------------------------------
    def _checkpoint_state(
        self, run: _RunState, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, loader: DeviceLoader
    ) -> dict[str, Any]:
        return {
            "epoch": run.epoch,
            "step": run.step,
            "model": _cpu_state(self.model),
            "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "loader": loader.state_dict(),
            "run": run.plain_state(),
            "best_state": run.best_state,
            "history": [dataclasses.asdict(e) for e in self.history],
            "config": self.config.model_dump(mode="json"),
        }

    def _restore(
        self, state: dict[str, Any], run: _RunState, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
        loader: DeviceLoader,
    ) -> None:
        try:
            self.model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            loader.load_state_dict(state["loader"])
            torch.set_rng_state(state["rng_cpu"])
            if self.device.type == "cuda" and state.get("rng_cuda"):
                torch.cuda.set_rng_state_all(state["rng_cuda"])
            # A damaged or foreign checkpoint fails here, with a message, rather than inside the loop.
            run.epoch, run.step = int(state["epoch"]), int(state["step"])
            if run.epoch < 0 or run.step < 0:
                raise ValueError(f"epoch {run.epoch} and step {run.step} cannot be negative")
            run.load_plain_state(state["run"])
            best_state = state.get("best_state")
            if best_state is not None and not isinstance(best_state, dict):
                raise TypeError(f"best_state is {type(best_state).__name__}, not weights")
            run.best_state = best_state
            self.history = [EpochFinished(**_tuples(h)) for h in state.get("history", [])]
        except Exception as exc:  # noqa: BLE001 - whatever fails, this checkpoint cannot be continued
            raise TrainingSetupError(f"the checkpoint does not fit this run ({one_line(exc, 200)})") from None


# --- helpers ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Window:
    """Totals at the previous step event, to report metrics since then."""

    time: float
    images: int
    loss: Any
    correct: Any


class _WeightsCopy:
    """The last good weights, kept on the training device for a cheap restore.

    Two copies: ``good`` is only ever replaced by weights that have since
    produced sane losses (a *proposed* copy is *confirmed* at the next healthy
    check), or by weights that were just validated. A loss that is finite but
    astronomically large counts as diverged too.
    """

    def __init__(self, model: nn.Module, num_classes: int) -> None:
        self.good = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.candidate: dict[str, torch.Tensor] | None = None
        self.taken = time.perf_counter()
        self.floor = math.inf
        # Cross-entropy of a uniform guess is ln(K); 50× that means wildly confident and wrong.
        self.ceiling = 50 * math.log(max(num_classes, 2))

    def healthy(self, loss: float) -> bool:
        if not math.isfinite(loss) or loss > max(10 * self.floor, self.ceiling):
            return False
        self.floor = min(self.floor, loss)
        return True

    def propose(self, model: nn.Module) -> None:
        with torch.no_grad():
            if self.candidate is None:
                self.candidate = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                for k, v in model.state_dict().items():
                    self.candidate[k].copy_(v)
        self.taken = time.perf_counter()

    def confirm(self) -> None:
        if self.candidate is not None:
            self.good, self.candidate = self.candidate, self.good

    def accept(self, model: nn.Module) -> None:
        with torch.no_grad():
            for k, v in model.state_dict().items():
                self.good[k].copy_(v)
        self.candidate = None
        self.taken = time.perf_counter()

    def restore(self, model: nn.Module) -> None:
        model.load_state_dict(self.good)


class _RunState:
    """Epoch/step counters, best-epoch tracking and the plateau schedule."""

    def __init__(self) -> None:
        self.epoch = 0
        self.step = 0
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.epochs_without_improvement = 0
        self.plateau_best: float | None = None
        self.plateau_wait = 0
        self.plateau_factor = 1.0
        self.best_state: dict[str, torch.Tensor] | None = None

    def update_best(self, cfg: TrainingConfig, epoch: int, val: Evaluation | None, model: nn.Module) -> bool:
        if val is None:
            return False
        value = val.loss if cfg.early_stopping_metric == "val_loss" else val.accuracy
        better = self.best_value is None or (
            value < self.best_value if cfg.early_stopping_metric == "val_loss" else value > self.best_value
        )
        if better:
            self.best_value, self.best_epoch = value, epoch
            self.epochs_without_improvement = 0
            if cfg.restore_best:  # a CPU copy: the device keeps only the weights it trains
                self.best_state = _cpu_state(model)
        else:
            self.epochs_without_improvement += 1
        return better

    def should_stop_early(self, cfg: TrainingConfig) -> bool:
        return bool(cfg.early_stopping_patience) and self.epochs_without_improvement >= cfg.early_stopping_patience

    def update_plateau(self, cfg: TrainingConfig, val: Evaluation | None) -> None:
        if cfg.schedule != "plateau" or val is None or not math.isfinite(val.loss):
            return
        if self.plateau_best is None or val.loss < self.plateau_best * (1 - 1e-4):
            self.plateau_best, self.plateau_wait = val.loss, 0
        else:
            self.plateau_wait += 1
            if self.plateau_wait >= cfg.plateau_patience:
                self.plateau_factor *= cfg.plateau_factor
                self.plateau_wait = 0

    def plain_state(self) -> dict[str, Any]:
        keys = ("best_value", "best_epoch", "epochs_without_improvement", "plateau_best", "plateau_wait",
                "plateau_factor")
        return {k: getattr(self, k) for k in keys}

    def load_plain_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`plain_state`; a value that is not a number (or ``None``) raises ``TypeError``."""
        for k in self.plain_state():
            v = state[k]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
                raise TypeError(f"run.{k} is {type(v).__name__}, not a number")
            setattr(self, k, v)


def _check_fits(state: dict[str, Any], model: nn.Module) -> None:
    """Refuse a checkpoint of another network, naming the first difference."""
    saved = state.get("model")
    if not isinstance(saved, dict):
        raise TrainingSetupError("the checkpoint holds no weights")
    ours = model.state_dict()
    for key, value in ours.items():
        if key not in saved:
            raise TrainingSetupError(f"the checkpoint does not fit this network: it has no {key}")
        if not isinstance(saved[key], torch.Tensor):
            raise TrainingSetupError(f"the checkpoint is damaged: {key} is not a tensor")
        if saved[key].dtype != value.dtype:
            got, want = (str(t.dtype).removeprefix("torch.") for t in (saved[key], value))
            raise TrainingSetupError(f"the checkpoint does not fit this network: {key} is {got} there and {want} here")
        if tuple(saved[key].shape) != tuple(value.shape):
            got = "×".join(map(str, saved[key].shape))
            want = "×".join(map(str, value.shape))
            raise TrainingSetupError(
                f"the checkpoint does not fit this network: {key} is {got} there and {want} here")
    extra = next((k for k in saved if k not in ours), None)
    if extra is not None:
        raise TrainingSetupError(f"the checkpoint does not fit this network: it has an extra {extra}")


def _autocast_dtype(cfg: TrainingConfig, device: torch.device) -> torch.dtype | None:
    if not cfg.mixed_precision or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def best_epoch_text(cfg: TrainingConfig, best_epoch: int | None, best_value: float | None,
                    kept: int | None) -> str:
    """``"; kept the weights of epoch 7, the best by validation loss (0.4123)"``, or what the best epoch was
    when its weights were not kept; ``""`` without a best epoch (no validation split)."""
    if best_epoch is None or best_value is None:
        return ""
    loss = cfg.early_stopping_metric == "val_loss"
    by = f"the best by {'validation loss' if loss else 'validation accuracy'} " \
         f"({f'{best_value:.4f}' if loss else f'{best_value:.1%}'})"
    if kept is not None:
        return f"; kept the weights of epoch {kept}, {by}"
    if cfg.restore_best:  # resumed from a checkpoint that did not keep the best weights
        return f"; epoch {best_epoch} was {by}"
    return f"; epoch {best_epoch} was {by}; the weights are the last step's (keep-best is off)"


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _epoch_event(
    epoch: int, step: int, train_loss: float, train_acc: float, val: Evaluation | None, k: int, lr: float,
    seconds: float, seen: int, best: bool, health: tuple[LayerHealth, ...] = (),
) -> EpochFinished:
    if val is None:
        per_class: tuple[float | None, ...] = (None,) * k
        confusion: tuple[tuple[int, ...], ...] = tuple((0,) * k for _ in range(k))
    else:
        per_class = val.per_class_accuracy
        confusion = tuple(tuple(row) for row in val.confusion.tolist())
    return EpochFinished(
        epoch=epoch, step=step, train_loss=train_loss, train_accuracy=train_acc,
        val_loss=val.loss if val else None, val_accuracy=val.accuracy if val else None,
        per_class_accuracy=per_class, confusion=confusion, learning_rate=lr, seconds=seconds,
        images_per_second=seen / max(seconds, 1e-9), best=best, health=health,
    )


def _tuple_lists(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    out = dict(d)
    out["per_class_accuracy"] = tuple(out["per_class_accuracy"])
    out["confusion"] = tuple(tuple(r) for r in out["confusion"])
    out["health"] = tuple(LayerHealth(**_tuple_lists(layer)) for layer in out.get("health", ()))
    return out
