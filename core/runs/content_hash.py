"""The content-hash policy: a run records the SHA-256 of the very bytes it trains on.

A config may name the hash of the file it was written for (an exported run.yaml, a run
reproduced from the Runs page). When the file has changed since, the run still trains on
the file as it is now, its config is pinned to the new hash (so its explanations and exports
read the data it really saw), and the run carries one warning, in these words, as its first
event. Every place that records a run calls `pin_content_hash`: the run manager's submit,
the CLI's `train`, a cross-validation parent, a search study, and a run that starts after
its file changed in the queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.config import RunConfig
from core.data.ref import DatasetRef


@dataclass(frozen=True)
class Pinned:
    config: RunConfig  # data.content_hash is the sha256 of the file as it is now
    warning: str | None = None  # set when the config named other bytes

    @property
    def events(self) -> list[str]:
        return [self.warning] if self.warning else []

    def run_summary(self, **fields: Any) -> dict[str, Any]:
        """A new run's summary: `fields`, and the warning (if any) as the run's first event."""
        return {**fields, "events": self.events} if self.warning else dict(fields)


def pin_content_hash(config: RunConfig, ref: DatasetRef) -> Pinned:
    """`config` pinned to the bytes of `ref`, and the words for a user when it named other bytes."""
    recorded = config.data.content_hash
    if recorded == ref.sha256:
        return Pinned(config)
    pinned = config.evolve(data={"content_hash": ref.sha256})
    return Pinned(pinned, data_changed_warning(ref, recorded) if data_changed(recorded, ref) else None)


def data_changed(recorded: str | None, ref: DatasetRef) -> bool:
    """Whether a recorded hash names other bytes than the file's now (no hash recorded: nothing to compare)."""
    return bool(recorded) and recorded != ref.sha256


def data_changed_warning(ref: DatasetRef, recorded: str) -> str:
    """The one wording, on the CLI's stderr and among the run's events."""
    return (f"{ref.label} has changed since this config was written (hash {ref.sha256[:12]}, the config says "
            f"{recorded[:12]}): results will differ")
