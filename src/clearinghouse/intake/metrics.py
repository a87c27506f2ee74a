"""What the intake pipeline is doing, for `/metrics` and `clearinghouse stats`: the backlog and each step's work.

Read from the store, not from one process's memory, so any API process shows the work of every worker on every
machine (workers add each batch's step counters in the transaction that writes the batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StepTotals:
    step: str
    runs: int  # reports the step ran on, since the store was created
    failures: int
    seconds: float  # time the step took over all those runs

    @property
    def mean_ms(self) -> float | None:
        return None if not self.runs else self.seconds * 1000 / self.runs


@dataclass(frozen=True)
class ProcessingStats:
    queued: int  # reports waiting to be processed (their jobs queued or running)
    oldest_queued_at: datetime | None
    measured_at: datetime
    steps: list[StepTotals]

    @property
    def oldest_age_seconds(self) -> float:
        """How long the oldest waiting report has waited (0 with none waiting)."""
        if self.oldest_queued_at is None:
            return 0.0
        return max(0.0, (self.measured_at - self.oldest_queued_at).total_seconds())

    def as_dict(self) -> dict[str, Any]:
        return {
            "queued_reports": self.queued,
            "oldest_queued_seconds": round(self.oldest_age_seconds, 3),
            "steps": [
                {
                    "step": s.step,
                    "runs": s.runs,
                    "failures": s.failures,
                    "seconds": round(s.seconds, 3),
                    "mean_ms": None if s.mean_ms is None else round(s.mean_ms, 3),
                }
                for s in self.steps
            ],
        }
