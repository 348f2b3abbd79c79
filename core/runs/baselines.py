"""A run's baselines (core.evaluation.baselines) on its own split, as its summary keeps them."""
from __future__ import annotations

import logging
from typing import Any

from core.data.prepared import PreparedData
from core.numbers import finite_or_none
from core.runs.sequence_results import is_sequence
from core.vocab import is_better, metric_direction, metric_label, metrics_for_task, primary_metric

log = logging.getLogger(__name__)


def run_baselines(prepared: PreparedData) -> tuple[dict[str, Any], list[str]]:
    """{name: {label, metrics: {val, test}, seconds}} fitted on the run's training rows; notes in words.
    A baseline that cannot be fitted is a note: it never fails the run it sits beside. A sequence run
    has baselines of its own, on its windows (core.runs.sequence_results: persistence, seasonal naive,
    the class prior), and gets none here."""
    if is_sequence(prepared):
        return {}, []
    from core.evaluation.baselines import fit_baselines  # sklearn: loaded once a run has trained

    schema = prepared.schema
    decode = prepared.preprocessor.decode_target if schema.task == "regression" else None
    try:
        found, notes = fit_baselines(schema.task, prepared.X["train"], prepared.y["train"],
                                     {part: (prepared.X[part], prepared.y[part]) for part in ("val", "test")},
                                     n_classes=schema.n_classes, decode=decode)
    except MemoryError:
        return {}, ["no baselines: the computer ran out of memory fitting them"]
    except Exception as exc:  # noqa: BLE001 - the run trained; its comparison is a nicety
        log.warning("baselines failed", exc_info=True)
        return {}, [f"no baselines ({type(exc).__name__}: {exc})"]
    return {b.name: b.to_dict() for b in found}, notes




def baseline_rows(summary: dict[str, Any], task: str | None, part: str = "test") -> list[dict[str, Any]]:
    """The network and its baselines on one part, one row each ({"model", metric...}), network first;
    empty when the run has no baselines (it did not complete, or it predates them)."""
    baselines = summary.get("baselines") or {}
    if not baselines or task is None:
        return []
    names = metrics_for_task(task)
    network = (summary.get("metrics") or {}).get(part) or {}
    rows = [{"model": "this network", **{m: network.get(m) for m in names}}]
    for item in baselines.values():
        values = (item.get("metrics") or {}).get(part) or {}
        rows.append({"model": item.get("label", "baseline"), **{m: values.get(m) for m in names}})
    return rows


def baseline_verdict(summary: dict[str, Any], task: str | None, part: str = "test") -> str | None:
    """One sentence: how the network's primary metric stands against the strongest baseline."""
    rows = baseline_rows(summary, task, part)
    if len(rows) < 2 or task is None:
        return None
    metric = primary_metric(task)
    mine = finite_or_none(rows[0].get(metric))
    scored = [(finite_or_none(r.get(metric)), r["model"]) for r in rows[1:]]
    scored = [(v, label) for v, label in scored if v is not None]
    if mine is None or not scored:
        return None
    best_value, best_label = max(scored) if metric_direction(metric) == "max" else min(scored)
    gap = mine - best_value
    label = metric_label(metric)
    if abs(gap) < 5e-4:
        return f"The network scores the same {part} {label} as the {best_label} ({mine:.3f})."
    ahead = is_better(metric, mine, best_value)
    return (f"The network's {part} {label} is {mine:.3f}, {abs(gap):.3f} {'above' if gap > 0 else 'below'} "
            f"the {best_label} ({best_value:.3f})" + ("." if ahead else
                                                       ": the network does not beat a simpler model here."))


__all__ = ["baseline_rows", "baseline_verdict", "run_baselines"]
