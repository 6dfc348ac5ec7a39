"""Validated training settings (augmentation included) and the dataset choice of a run.

Both models refuse unknown fields and re-validate on assignment, so a value set
from a dialog, the command line or a project file is always in range. Errors
are pydantic ``ValidationError`` s naming the field and the rule it breaks.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

#: Longest text value of a free-form option.
MAX_SCALAR_TEXT = 4096


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in words: ``"a list"``, ``"null"``, ``"text"`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_scalar(value: Any) -> int | float | bool | str:
    """Accept a JSON scalar as it is (no coercion); floats must be finite."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError(
                "scalar_finite", "must be a finite number, got {value}", {"value": value}
            )
        return value
    if isinstance(value, str):
        if len(value) > MAX_SCALAR_TEXT:
            raise PydanticCustomError(
                "scalar_length", "text must be at most {limit} characters", {"limit": MAX_SCALAR_TEXT}
            )
        return value
    raise PydanticCustomError(
        "scalar_type", "must be a number, true/false or text, got {kind}", {"kind": json_kind(value)}
    )


#: Values of free-form options (dataset options, run settings): a JSON scalar —
#: int, finite float, bool or text — kept with its own type.
Scalar = Annotated[
    int | float | bool | str, PlainValidator(_check_scalar, json_schema_input_type=int | float | bool | str)
]

OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop"]
ScheduleName = Literal["constant", "step", "cosine", "onecycle", "plateau"]
MetricName = Literal["val_loss", "val_accuracy"]
DeviceName = Literal["auto", "cpu", "cuda", "mps"]
AdversarialName = Literal["none", "fgsm", "pgd"]
ClassWeightsName = Literal["none", "balanced"]

_Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AugmentConfig(BaseModel):
    """Which augmentations to apply during training; every default is off.

    Strengths are the largest change drawn per image: a value drawn uniformly
    from ``[-strength, +strength]`` (or ``[0, strength]`` for a probability).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    hflip: bool = Field(False, description="Mirror left-right with probability 1/2.")
    vflip: bool = Field(False, description="Mirror top-bottom with probability 1/2.")
    crop_padding: int = Field(0, ge=0, le=16, description="Random crop after zero padding by this many pixels "
                              "(CIFAR-style; 0 = off).")
    rotate_degrees: float = Field(0.0, ge=0.0, le=45.0, description="Random rotation up to ± this angle.")
    translate: float = Field(0.0, ge=0.0, le=0.5, description="Random shift up to ± this fraction of the size.")
    color_jitter: float = Field(0.0, ge=0.0, le=1.0, description="Brightness/contrast/saturation change up to "
                                "± this fraction.")
    erasing: float = Field(0.0, ge=0.0, le=1.0, description="Probability of erasing a random rectangle (to black).")
    noise_std: float = Field(0.0, ge=0.0, le=2.0, description="Std of Gaussian noise added after normalization.")

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is switched on."""
        return bool(
            self.hflip or self.vflip or self.crop_padding or self.rotate_degrees or self.translate
            or self.color_jitter or self.erasing or self.noise_std
        )


class TrainingConfig(BaseModel):
    """How to train: optimizer, schedule, regularization, stopping, device.

    The learning rate is the peak rate of the schedule (for ``onecycle``, the
    maximum). ``val_fraction`` is the share of the training split held out for
    validation. Zero turns off the feature for ``l1``, ``grad_clip``,
    ``early_stopping_patience``, ``warmup_epochs`` and ``checkpoint_every``.

    ``adversarial`` other than ``"none"`` trains on batches of which the share
    ``adversarial_fraction`` is replaced by FGSM or PGD examples crafted against the
    current weights, ε in pixel units (``0..1``); see :mod:`.adversarial`.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    epochs: int = Field(5, ge=1, le=10_000, description="Passes over the training set.")
    batch_size: int = Field(128, ge=1, le=65_536, description="Images per optimizer step.")
    optimizer: OptimizerName = Field("adam", description="Update rule.")
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0, description="Step size (peak of the schedule).")
    momentum: float = Field(
        0.9, ge=0.0, lt=1.0, description="SGD/RMSprop momentum (Adam's beta1 is not affected)."
    )
    nesterov: bool = Field(False, description="Nesterov momentum (SGD only).")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="L2 penalty (decoupled for AdamW).")
    l1: float = Field(0.0, ge=0.0, le=1.0, description="L1 penalty on weights (not biases), added to the loss.")
    schedule: ScheduleName = Field("constant", description="How the learning rate changes over the run.")
    warmup_epochs: float = Field(0.0, ge=0.0, le=1000.0, description="Linear warm-up from 0 (not with onecycle).")
    step_size: int = Field(10, ge=1, le=10_000, description="'step' schedule: epochs between decays.")
    step_gamma: float = Field(0.1, gt=0.0, le=1.0, description="'step' schedule: factor at each decay.")
    plateau_patience: int = Field(3, ge=1, le=1000, description="'plateau': epochs without progress before decay.")
    plateau_factor: float = Field(0.1, gt=0.0, lt=1.0, description="'plateau': factor at each decay.")
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="Cross-entropy label smoothing.")
    class_weights: ClassWeightsName = Field("none", description="Weight the training loss by class: 'balanced' "
                                            "gives each class the weight n / (classes × its images), as "
                                            "scikit-learn's 'balanced', so small classes count as much as large "
                                            "ones; 'none' counts every image the same. The validation loss stays "
                                            "unweighted, so runs remain comparable.")
    grad_clip: float = Field(0.0, ge=0.0, le=1e6, description="Clip the gradient norm to this value.")
    early_stopping_patience: int = Field(0, ge=0, le=10_000, description="Stop after this many epochs without "
                                         "improvement of the early-stopping metric.")
    early_stopping_metric: MetricName = Field("val_loss", description="What makes an epoch the best: the epoch "
                                              "whose weights are kept, and what early stopping watches.")
    restore_best: bool = Field(True, description="Keep the best epoch: end the run with the weights of its best "
                               "validation epoch (lowest validation loss, or highest accuracy, as chosen), not "
                               "the last epoch's (like Keras' restore_best_weights). Needs a validation split.")
    checkpoint_every: int = Field(1, ge=0, le=10_000, description="Save a checkpoint every N epochs.")
    snapshot_budget_mb: int = Field(200, ge=0, le=2_000, description="Room in the project file for the "
                                    "weights of each run's epochs (its start, epoch 0, and the end of every "
                                    "epoch), in MB for all runs together: small networks keep every epoch, "
                                    "larger ones evenly spaced epochs, always the first, the last and the kept "
                                    "one. 0 keeps none.")
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="On-device data augmentation.")
    adversarial: AdversarialName = Field("none", description="Adversarial training: replace part of each batch "
                                         "by FGSM or PGD examples crafted against the current weights (the "
                                         "training accuracy is then that of the mixed batches).")
    adversarial_epsilon: float = Field(0.1, gt=0.0, le=1.0, description="Adversarial training: largest change "
                                       "of a pixel, in pixel units (1 = the full range; 8/255 ≈ 0.031).")
    adversarial_steps: int = Field(7, ge=1, le=100, description="Adversarial training: PGD steps per batch "
                                   "(step size 2.5 ε / steps, random start).")
    adversarial_fraction: float = Field(0.5, gt=0.0, le=1.0, description="Adversarial training: share of each "
                                        "batch replaced by adversarial examples.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of every random generator of the run.")
    device: DeviceName = Field("auto", description="'auto' picks CUDA, then MPS, then the CPU.")
    mixed_precision: bool = Field(True, description="Autocast to bf16/fp16 on CUDA.")
    compile: bool = Field(False, description="Compile the network with torch.compile before the first step: "
                          "faster steps on a GPU after a one-time compilation (often tens of seconds, reported "
                          "on its own and not counted in images/s). If compiling fails, training goes on "
                          "uncompiled with a warning.")
    tta_flip: bool = Field(False, description="Test-time augmentation: evaluate each image and its mirror image "
                           "and average the two outputs (validation and test accuracy; training is unchanged).")
    val_fraction: float = Field(0.1, ge=0.0, le=0.5, description="Share of training images held out.")

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> TrainingConfig:
        if self.early_stopping_patience and self.val_fraction == 0:
            raise ValueError("early stopping watches the validation split: set val_fraction above 0")
        return self


class DatasetChoice(BaseModel):
    """Which dataset a project trains on.

    ``name`` is a key of the dataset registry (``"synthetic"`` is always
    available offline); ``root`` is the folder holding the data (``None``: the
    default location); ``options`` are dataset-specific settings such as the
    synthetic set's image size or class count.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] = "synthetic"
    root: Annotated[str, StringConstraints(max_length=4096)] | None = None
    options: dict[_Key, Scalar] = Field(default_factory=dict, max_length=64)
