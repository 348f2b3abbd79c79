"""Two runs' global importances side by side: which columns rose, which fell.

    rank_changes(importance_a, importance_b) -> RankComparison

Importances are mean |SHAP| per column (ShapExplanation.importances()). Two models' raw scales differ
(one's logits may be ten times the other's), so each side is also given as its share of its total, and
the comparison is about ranks: rank 1 is a run's most important column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import pandas as pd


@dataclass(frozen=True)
class RankComparison:
    table: pd.DataFrame  # column, importance_a/b, share_a/b, rank_a/b, change (+ rose in B), in B's order
    only_a: list[str]  # columns run A has and run B lacks
    only_b: list[str]

    @property
    def same_columns(self) -> bool:
        return not self.only_a and not self.only_b

    def rose(self) -> list[str]:
        return self.table[self.table.change > 0].sort_values("change", ascending=False).column.tolist()

    def fell(self) -> list[str]:
        return self.table[self.table.change < 0].sort_values("change").column.tolist()

    def words(self, name_a: str = "A", name_b: str = "B", most: int = 3) -> str:
        """What changed, in a sentence or two."""
        parts = []
        if not self.same_columns:
            if self.table.empty:
                return (f"{name_a} and {name_b} share no column, so their importances cannot be compared: "
                        "explain two runs trained on the same data.")
            differ = []
            if self.only_a:
                differ.append(f"only {name_a} has {_names(self.only_a)}")
            if self.only_b:
                differ.append(f"only {name_b} has {_names(self.only_b)}")
            parts.append(f"The runs were trained on different columns ({'; '.join(differ)}): "
                         f"the {len(self.table)} shared columns are ranked among themselves.")
        top_a, top_b = self.table.sort_values("rank_a").column.iloc[0], self.table.column.iloc[0]
        if top_a == top_b:
            parts.append(f"Both rank {top_a} first.")
        else:
            parts.append(f"{name_a} ranks {top_a} first, {name_b} ranks {top_b} first.")
        rose, fell = self.rose()[:most], self.fell()[:most]
        if not rose and not fell:
            parts.append("Every column keeps its rank.")
        else:
            moves = [f"{c} rose {_places(int(self.table.set_index('column').change[c]))}" for c in rose]
            moves += [f"{c} fell {_places(-int(self.table.set_index('column').change[c]))}" for c in fell]
            parts.append(f"From {name_a} to {name_b}: " + ", ".join(moves) + ".")
        return " ".join(parts)


def rank_changes(importance_a: Mapping[str, float], importance_b: Mapping[str, float]) -> RankComparison:
    shared = [c for c in importance_b if c in importance_a]
    only_a = [c for c in importance_a if c not in importance_b]
    only_b = [c for c in importance_b if c not in importance_a]
    a = {c: float(importance_a[c]) for c in shared}
    b = {c: float(importance_b[c]) for c in shared}
    rank_a, rank_b = _ranks(a), _ranks(b)
    total_a, total_b = sum(a.values()) or 1.0, sum(b.values()) or 1.0
    rows = [{"column": c, "importance_a": a[c], "importance_b": b[c], "share_a": a[c] / total_a,
             "share_b": b[c] / total_b, "rank_a": rank_a[c], "rank_b": rank_b[c],
             "change": rank_a[c] - rank_b[c]} for c in shared]
    table = pd.DataFrame(rows, columns=["column", "importance_a", "importance_b", "share_a", "share_b",
                                        "rank_a", "rank_b", "change"])
    return RankComparison(table.sort_values("rank_b", kind="stable").reset_index(drop=True), only_a, only_b)


def _ranks(importance: Mapping[str, float]) -> dict[str, int]:
    # ties keep the order given (importances() lists the largest first, stably)
    order = sorted(importance, key=lambda c: -importance[c])
    return {c: i + 1 for i, c in enumerate(order)}


def _names(columns: list[str], most: int = 4) -> str:
    shown = ", ".join(columns[:most])
    return shown + (f" and {len(columns) - most} more" if len(columns) > most else "")


def _places(n: int) -> str:
    return f"{n} place" + ("" if n == 1 else "s")


__all__ = ["RankComparison", "rank_changes"]
