"""Risk grades and the credit-line assignment policy of new accounts (授信额度).

The line is a multiple of declared monthly income that depends on the risk grade, reduced by
the applicant's debt burden, capped per grade and overall, rounded down to whole 1,000 CNY and
never below the product minimum. The binding constraint is returned as a reason so that every
line is explained.

>>> grades = RiskGrades()
>>> grades.grade_of(0.01), grades.grade_of(0.05), grades.grade_of(0.5)
('A', 'C', 'E')
>>> lp = LinePolicy()
>>> a = lp.assign(income_fen=1_500_000, debt_fen=0, grade="B")   # 15,000 CNY a month
>>> a.line_fen, a.binding
(7500000, 'income')
>>> lp.assign(income_fen=1_500_000, debt_fen=600_000, grade="B").binding
'debt'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRADES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True, kw_only=True)
class RiskGrades:
    """PD upper bounds of grades A..D (E is everything above the last bound)."""

    bounds: tuple[float, ...] = (0.02, 0.04, 0.08, 0.15)
    labels: tuple[str, ...] = GRADES

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.bounds) + 1:
            raise ValueError(f"need {len(self.bounds) + 1} labels for {len(self.bounds)} bounds")
        if list(self.bounds) != sorted(self.bounds) or not all(0 < b < 1 for b in self.bounds):
            raise ValueError(
                f"bounds must be increasing probabilities in (0, 1), got {self.bounds}"
            )

    def grade_of(self, pd_bad: float) -> str:
        return self.labels[int(np.searchsorted(self.bounds, pd_bad, side="right"))]

    def grade_index(self, pd_bad: np.ndarray) -> np.ndarray:
        """Vectorised grade index (0 = best)."""
        return np.searchsorted(np.asarray(self.bounds), np.asarray(pd_bad), side="right")


@dataclass(frozen=True)
class LineAssignment:
    line_fen: int
    binding: str  # income | debt | grade_cap | global_cap | minimum


@dataclass(frozen=True, kw_only=True)
class LinePolicy:
    """Income multiple by grade, debt-burden reduction, caps, rounding and minimum line."""

    income_multiple: dict[str, float] = field(
        default_factory=lambda: {"A": 6.0, "B": 5.0, "C": 3.5, "D": 2.0, "E": 1.0}
    )
    grade_cap_fen: dict[str, int] = field(
        default_factory=lambda: {
            "A": 20_000_000,
            "B": 10_000_000,
            "C": 5_000_000,
            "D": 2_000_000,
            "E": 1_000_000,
        }
    )
    global_cap_fen: int = 20_000_000
    min_line_fen: int = 200_000
    round_to_fen: int = 100_000
    max_dti: float = 0.6
    min_debt_factor: float = 0.25

    def __post_init__(self) -> None:
        missing = [
            g for g in GRADES if g not in self.income_multiple or g not in self.grade_cap_fen
        ]
        if missing:
            raise ValueError(
                f"income_multiple and grade_cap_fen need every grade; missing {missing}"
            )
        if (
            self.min_line_fen <= 0
            or self.round_to_fen <= 0
            or self.global_cap_fen < self.min_line_fen
        ):
            raise ValueError("need 0 < min_line_fen <= global_cap_fen and round_to_fen > 0")
        if not 0 < self.max_dti <= 2 or not 0 < self.min_debt_factor <= 1:
            raise ValueError("need 0 < max_dti <= 2 and 0 < min_debt_factor <= 1")

    def debt_factor(self, income_fen: np.ndarray, debt_fen: np.ndarray) -> np.ndarray:
        dti = np.asarray(debt_fen, float) / np.maximum(np.asarray(income_fen, float), 1.0)
        return np.clip(1.0 - dti / self.max_dti, self.min_debt_factor, 1.0)

    def assign_many(
        self, income_fen: np.ndarray, debt_fen: np.ndarray, grade_index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised: ``(line_fen, binding)`` arrays for grade indices (0 = A)."""
        mult = np.array([self.income_multiple[g] for g in GRADES])[grade_index]
        cap = np.minimum(
            np.array([self.grade_cap_fen[g] for g in GRADES])[grade_index], self.global_cap_fen
        )
        income = np.asarray(income_fen, float)
        factor = self.debt_factor(income_fen, debt_fen)
        raw = income * mult * factor
        line = np.minimum(raw, cap)
        line = np.floor(line / self.round_to_fen) * self.round_to_fen
        line = np.maximum(line, self.min_line_fen).astype(np.int64)
        binding = np.where(
            raw < self.min_line_fen,
            "minimum",
            np.where(
                raw >= cap,
                np.where(cap >= self.global_cap_fen, "global_cap", "grade_cap"),
                np.where(factor < 0.95, "debt", "income"),
            ),
        )
        return line, binding

    def assign(self, *, income_fen: int, debt_fen: int, grade: str) -> LineAssignment:
        """The line of one approved applicant."""
        line, binding = self.assign_many(
            np.array([income_fen]), np.array([debt_fen]), np.array([GRADES.index(grade)])
        )
        return LineAssignment(line_fen=int(line[0]), binding=str(binding[0]))
