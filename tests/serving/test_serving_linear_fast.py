"""The linear fast path answers exactly as scikit-learn's own `predict`, and falls back to it for the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression, Perceptron, RidgeClassifier, SGDClassifier
from sklearn.svm import LinearSVC

from neuroscale.serving.linear_fast import fast_predict

Array = np.ndarray[Any, Any]
RNG = np.random.default_rng(0)


def _fitted() -> list[Any]:
    iris = load_iris()
    x2, y2 = make_classification(n_samples=200, n_features=6, random_state=0)
    return [
        LogisticRegression(max_iter=1000, random_state=0).fit(iris.data, iris.target),
        LogisticRegression(max_iter=1000, fit_intercept=False).fit(iris.data, iris.target),
        LogisticRegression(max_iter=1000).fit(x2, y2),  # binary: one score column, `> 0`
        LogisticRegression(max_iter=1000).fit(iris.data, np.array(["setosa", "versicolor", "virginica"])[iris.target]),
        LogisticRegression(max_iter=1000).fit(x2, np.where(y2 == 1, 7, -2)),
        SGDClassifier(random_state=0).fit(iris.data, iris.target),
        Perceptron(random_state=0).fit(x2, y2),
        LinearSVC(random_state=0).fit(iris.data, iris.target),
    ]


MODELS = _fitted()


def _inputs(width: int) -> list[Any]:
    """Random rows, then adversarial ones: NaN, inf, overflow, odd dtypes, layouts, shapes and types."""
    nan_row = RNG.normal(size=(3, width))
    nan_row[1, 0] = np.nan
    inf_row = RNG.normal(size=(2, width))
    inf_row[0, -1] = np.inf
    return [
        RNG.normal(size=(1, width)), RNG.normal(size=(5, width)) * 100, RNG.normal(size=(64, width)),
        np.zeros((2, width)), np.full((2, width), 1e308), np.full((2, width), -1e308),  # scores overflow to inf
        np.full((1, width), 5e-324),  # denormals
        nan_row, inf_row, np.full((2, width), -np.inf),
        np.asfortranarray(RNG.normal(size=(4, width))), RNG.normal(size=(4, 2 * width))[:, ::2],
        RNG.normal(size=(3, width)).astype(np.float32), np.ones((2, width), dtype=np.int64),
        np.empty((0, width)), RNG.normal(size=(2, width + 1)), RNG.normal(size=width),
        RNG.normal(size=(2, width)).tolist(),
    ]


def _outcome(predict: Callable[[Any], Any], rows: Any) -> tuple[str, Any]:
    try:
        return "answer", np.asarray(predict(rows))
    except Exception as exc:  # scikit-learn's error must be the fast path's error
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_same_answers_and_errors_as_scikit_learn(model: Any) -> None:
    fast = fast_predict(model)
    assert fast is not None
    for rows in _inputs(model.n_features_in_):
        kind, expected = _outcome(model.predict, rows)
        got_kind, got = _outcome(fast, rows)
        assert got_kind == kind, rows
        if kind == "answer":
            assert got.dtype == expected.dtype and got.shape == expected.shape
            assert np.array_equal(got, expected), rows
        else:
            assert got == expected


def test_plain_float_rows_skip_scikit_learn_and_the_rest_go_through_it() -> None:
    model = LogisticRegression(max_iter=1000).fit(load_iris().data, load_iris().target)
    calls: list[Any] = []
    own = model.predict
    model.predict = lambda rows: calls.append(rows) or own(rows)  # the path the fast one falls back to
    fast = fast_predict(model)
    assert fast is not None
    fast(RNG.normal(size=(2, 4)))
    assert calls == []
    with pytest.raises(ValueError, match="NaN"):
        fast(np.array([[np.nan, 1.0, 2.0, 3.0]]))
    fast(np.ones((1, 4), dtype=np.float32))
    assert len(calls) == 2


def test_only_known_dense_linear_classifiers() -> None:
    iris = load_iris()

    class Tweaked(LogisticRegression):
        def predict(self, X: Array) -> Array:
            return super().predict(X)

    sparse = LogisticRegression(max_iter=1000).fit(iris.data, iris.target).sparsify()
    for model in (RidgeClassifier().fit(iris.data, iris.target),  # its own predict
                  Tweaked(max_iter=1000).fit(iris.data, iris.target), sparse, LogisticRegression()):
        assert fast_predict(model) is None
