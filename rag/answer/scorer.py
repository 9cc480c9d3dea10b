"""The fitted answer scorer, in two steps over :mod:`rag.answer.features`.

1. **Rank**: a logistic regression over each candidate's features scores how likely it
   holds the answer; the best candidate is the answer, if any.
2. **Answer or abstain**: a second logistic regression over the question-level view of
   the best candidate (its rank score, its margin over the runner-up, how much of the
   question the passages hold, ...) estimates the probability that it is right. The
   answer abstains below one threshold on that probability.

Both models and the threshold ship as ``weights.json`` beside this file, written by
``bench/fit_selector.py`` from the training question sets only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer.features import ANSWER_NAMES, NAMES

WEIGHTS = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class Linear:
    """A logistic regression on standardised features."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict:
        return {
            "features": list(self.names),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "coef": self.coef.round(6).tolist(),
            "intercept": round(self.intercept, 6),
        }

    @classmethod
    def from_json(cls, data: dict, expected: tuple[str, ...], path: Path) -> Linear:
        names = tuple(data["features"])
        if names != expected:
            raise ValueError(
                f"{path}: fitted for features {list(names)}, but the code computes {list(expected)}; "
                "run `.venv/bin/python -m bench.fit_selector --write` to fit the scorer again"
            )
        return cls(
            names,
            np.asarray(data["mean"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["coef"], dtype=np.float64),
            float(data["intercept"]),
        )

    @classmethod
    def fit(
        cls, names: tuple[str, ...], x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1.0
    ) -> Linear:
        x = np.asarray(x, dtype=np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale < 1e-6] = 1.0
        coef, intercept = fit_logistic((x - mean) / scale, y, weight, l2)
        return cls(names, mean, scale, coef, intercept)


@dataclass(frozen=True)
class Scorer:
    rank: Linear
    answer: Linear
    threshold: float  # below it: abstain
    unsure: float = 0.0  # below it (and above the threshold): answered, shown as the closest passage

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> Scorer:
        data = json.loads(Path(path).read_text())
        return cls(
            Linear.from_json(data["rank"], NAMES, path),
            Linear.from_json(data["answer"], ANSWER_NAMES, path),
            float(data["threshold"]),
            float(data.get("unsure", data["threshold"])),
        )

    def confidence(self, question_view: np.ndarray) -> float:
        """The probability that the best candidate is right, from its ``answer_view``."""
        return float(_sigmoid(self.answer.logits(question_view[None, :]))[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1.0, iters: int = 50
) -> tuple[np.ndarray, float]:
    """L2-regularised, weighted logistic regression by Newton's method (on standardised
    features): (coefficients, intercept). The intercept is not penalised."""
    n, d = x.shape
    sw = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    a = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    pen = np.full(d + 1, l2)
    pen[-1] = 0.0
    for _ in range(iters):
        p = _sigmoid(a @ w)
        grad = a.T @ (sw * (p - y)) + pen * w
        hess = (a * (sw * p * (1 - p))[:, None]).T @ a + np.diag(pen) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])
