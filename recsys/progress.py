"""Progress reports and cancellation of training: plain Python, no Keras, so the job registry, the app
and the CLI can read them without importing TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

ETA_AFTER_STEPS = 3  # the first steps include graph tracing: no ETA before this many steps were timed


class TrainingCancelled(Exception):
    """Raised by training when its cancel event was set; nothing is stored."""


@dataclass
class Progress:
    """One progress report, sent after every batch and every epoch.

    Attributes:
        phase: "preparing" | "training" | "validating" | "evaluating" | "finishing" | "done".
        detail: what the phase is doing right now, in words ("cutting training windows", …).
        epoch, epochs: the current epoch (1-based) and the most that will run.
        step, steps: the batch within the epoch.
        best_epoch: the epoch whose weights are kept so far (0 = none yet).
        stopped_by: why training ended: "epochs", "event budget", "early stopping", "user" or "time budget".
        eta_s: estimated seconds left, None until `ETA_AFTER_STEPS` batches were timed.
        history: one record per finished epoch.
    """

    phase: str
    detail: str = ""
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    val_ndcg: float | None = None
    best_val_ndcg: float | None = None
    best_epoch: int = 0
    stopped_by: str | None = None
    elapsed_s: float = 0.0
    eta_s: float | None = None
    history: list = field(default_factory=list)

    @property
    def fraction(self) -> float:
        if self.phase == "done":
            return 1.0
        if not self.epochs or not self.steps:
            return 0.0
        return min(1.0, ((self.epoch - 1) * self.steps + self.step) / (self.epochs * self.steps))


ProgressFn = Callable[[Progress], None]


def eta_seconds(*, seconds_per_step: float | None, steps_left: int, validation_s: float | None,
                validations_left: int) -> float | None:
    """Seconds left: timed steps × steps left, plus the measured validation time per remaining epoch."""
    if seconds_per_step is None:
        return None
    return seconds_per_step * max(steps_left, 0) + (validation_s or 0.0) * max(validations_left, 0)
