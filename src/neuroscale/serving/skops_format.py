"""scikit-learn models saved with skops (`.skops`): loaded without running code from the file.

A joblib or pickle file can run any code while it is loaded. A skops file is a
zip of JSON plus numpy arrays; skops rebuilds only the types it is told to
trust. We ask `skops.io.get_untrusted_types` which types a file needs beyond
skops' own safe defaults (builtins, numpy, scipy, scikit-learn estimators) and
load it only when every one of them is in `TRUSTED_TYPES`: the Cython helpers
scikit-learn estimators hold (tree structures, neighbour indexes, distance
metrics, optimiser state). Any other type — a function such as `os.system`,
a class from some other package — refuses the file with a list of what it
asked for. The list is documented in the README; extend it only with types
that hold data, never with callables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from neuroscale.errors import ModelLoadError
from neuroscale.serving.storage import describe

SUFFIX = ".skops"
#: Types a fitted scikit-learn estimator needs that skops does not trust by default (data holders only).
TRUSTED_TYPES: frozenset[str] = frozenset({
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    *(f"sklearn.metrics._dist_metrics.{metric}Distance{bits}"
      for metric in ("Euclidean", "SEuclidean", "Manhattan", "Chebyshev", "Minkowski", "WMinkowski",
                     "Mahalanobis", "Hamming", "Canberra", "BrayCurtis", "Haversine")
      for bits in ("64", "32")),
})


def load_skops(path: Path) -> Any:
    """The estimator in `path`, rebuilt from skops' safe format with only allow-listed extra types."""
    try:
        import skops.io

        needed = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip, no schema, a newer protocol: all mean "not a skops file we can read"
        raise ModelLoadError(
            f"cannot read the file as a skops model: {describe(exc)}",
            where=str(path),
            fix="save the model with skops.io.dump(model, 'model.skops')",
        ) from None
    refused = sorted(set(needed) - TRUSTED_TYPES)
    if refused:
        shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise ModelLoadError(
            f"the skops file asks for types outside the trusted list: {shown}",
            where=str(path),
            fix="save a plain scikit-learn estimator or pipeline; custom functions and classes are not loaded "
            "(see the README's model formats)",
        )
    try:
        return skops.io.load(path, trusted=list(needed))
    except Exception as exc:  # a corrupted archive or arrays that do not match the schema
        raise ModelLoadError(
            f"cannot load the skops file: {describe(exc)}",
            where=str(path),
            fix="re-export the model with skops.io.dump",
        ) from None
