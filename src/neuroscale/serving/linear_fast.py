"""Linear scikit-learn classifiers predicted without scikit-learn's per-call input checks.

Hand-written because it is the hot path's largest cost: for a 2-row request, `LogisticRegression.predict`
spends most of its time validating its input (`validate_data`, `check_array`, narwhals' dataframe
detection, feature-name checks), not in the matrix product. Measured on iris LogisticRegression under
`wrk -c16` V1 (issue 13, bench/RESULTS.md): predict went from ~60 % of the model server's CPU to ~5 %.

The fast path computes exactly what `LinearClassifierMixin.predict` computes (the same `X @ coef_.T +
intercept_`, then `argmax`, or `> 0` for one column, into `classes_`), and is used only when both sides are
known: the estimator's exact type is one whose `predict` and `decision_function` are the mixin's (checked,
so a scikit-learn that changes them falls back), and the input is a finite C-ordered float64 2-D array of
the fitted width. Anything else - NaN or inf, other dtypes, sparse or dataframe input - goes to the
estimator's own `predict`, so errors and answers stay scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]
_TYPES = ("LogisticRegression", "LogisticRegressionCV", "SGDClassifier", "Perceptron",
          "PassiveAggressiveClassifier", "LinearSVC")


def fast_predict(estimator: Any) -> Callable[[Array], Array] | None:
    """A drop-in for `estimator.predict`, or None when `estimator` is not a known dense linear classifier."""
    kind = type(estimator)
    if kind.__module__.split(".", 1)[0] != "sklearn" or kind.__name__ not in _TYPES:
        return None
    from sklearn.linear_model._base import LinearClassifierMixin

    if (kind.predict is not LinearClassifierMixin.predict
            or kind.decision_function is not LinearClassifierMixin.decision_function):
        return None
    coef, intercept, classes = (getattr(estimator, name, None) for name in ("coef_", "intercept_", "classes_"))
    if not (type(coef) is np.ndarray and coef.ndim == 2 and coef.dtype == np.float64
            and isinstance(intercept, np.ndarray | float) and type(classes) is np.ndarray):
        return None  # not fitted, or sparsified coefficients: scikit-learn's own path
    coef_t, width, slow = coef.T, coef.shape[1], estimator.predict

    def predict(rows: Array) -> Array:
        if (type(rows) is not np.ndarray or rows.dtype != np.float64 or rows.ndim != 2 or rows.shape[1] != width
                or not rows.shape[0] or not rows.flags.c_contiguous or not np.isfinite(rows).all()):
            return np.asarray(slow(rows))
        scores = rows @ coef_t + intercept
        indices = (scores[:, 0] > 0).astype(np.intp) if scores.shape[1] == 1 else scores.argmax(axis=1)
        return classes.take(indices, axis=0)

    return predict
