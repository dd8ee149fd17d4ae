"""Disentanglement metrics: does each known factor of variation live in one code dimension?

Given codes ``(n, d)`` (a VAE's posterior means) and ground-truth factors ``(n, K)``, four
standard scores, each 1 for a perfectly disentangled code (every factor carried by its own
dimension, nothing else in it):

- **MIG** (Chen et al., 2018): per factor, the gap in mutual information between the two
  code dimensions most informative about it, divided by the factor's entropy. Random code: 0.
- **FactorVAE score** (Kim & Mnih, 2018): fix one factor, draw a batch, find the code
  dimension (scaled by its spread over all data) that varies least; a majority-vote
  classifier maps that dimension back to the fixed factor. Its accuracy is the score,
  so a random code scores chance, 1/K.
- **DCI** (Eastwood & Williams, 2018): random forests predict each factor from the code;
  their feature importances R (d x K) give *disentanglement* (each dimension matters for
  one factor), *completeness* (each factor is captured by one dimension), and
  *informativeness* (held-out accuracy of the forests; chance level for a random code).
  The trees are just deep enough to cut one dimension into an interval per class: fully
  grown trees fit noise in every dimension and spread the importances evenly.
- **SAP** (Kumar et al., 2018): per factor, predict it from each single dimension (a
  threshold classifier, chance-adjusted balanced accuracy on held-out data) and take the
  gap between the two best dimensions. Random code: 0.

Factors are treated as classes: a factor with at most ``MAX_LEVELS`` distinct values keeps
them, a factor with more (a continuous one) is cut into ``BINS`` equal-width bins. Codes are
binned into ``BINS`` bins for MIG, as in Locatello et al. (2019).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import balanced_accuracy_score, mutual_info_score
from sklearn.tree import DecisionTreeClassifier

from vaekit.errors import DataError

if TYPE_CHECKING:
    from vaekit.data import Dataset
    from vaekit.estimator import VAE

BINS = 20
MAX_LEVELS = 64
#: FactorVAE: code dimensions whose spread over the data is below this are ignored (collapsed).
FACTOR_VAE_MIN_STD = 0.05
TEST_FRACTION = 0.3


@dataclass
class DisentanglementScores:
    """All four metrics, with the per-factor parts that explain them."""

    mig: float
    factor_vae: float
    dci_disentanglement: float
    dci_completeness: float
    dci_informativeness: float
    sap: float
    factor_names: list[str]
    #: Per factor: "mig" and "sap" gaps, DCI "completeness" and "informativeness".
    per_factor: dict[str, list[float]]
    #: Mutual information of each code dimension with each factor over the factor's entropy, (d, K).
    normalized_mi: list[list[float]]

    def to_dict(self) -> dict:
        return asdict(self)


def discretize_factors(factors: np.ndarray, names: list[str] | None = None, bins: int = BINS) -> np.ndarray:
    """Factors as class indices ``(n, K)``: few distinct values kept, continuous ones binned."""
    factors = np.asarray(factors)
    if factors.ndim == 1:
        factors = factors[:, None]
    classes = np.empty(factors.shape, dtype=np.int64)
    for k in range(factors.shape[1]):
        values, inverse = np.unique(factors[:, k], return_inverse=True)
        if len(values) < 2:
            name = names[k] if names else f"factor{k}"
            raise DataError(f"factor '{name}' takes a single value; a factor must vary to be measured")
        classes[:, k] = inverse if len(values) <= MAX_LEVELS else _bin(factors[:, k], bins)
    return classes


def _bin(values: np.ndarray, bins: int) -> np.ndarray:
    """Equal-width bin index (0..bins-1) of each value."""
    edges = np.histogram_bin_edges(values, bins)
    return np.digitize(values, edges[1:-1])


def _check(codes: np.ndarray, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise DataError(f"codes must be an (n, d) array, got shape {codes.shape}")
    if len(factors) != len(codes):
        raise DataError(f"{len(factors)} rows of factors for {len(codes)} codes; give one per example")
    if len(codes) < 10:
        raise DataError(f"disentanglement metrics need at least 10 examples, got {len(codes)}")
    return codes, discretize_factors(factors)


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(TEST_FRACTION * n))
    return order[n_test:], order[:n_test]


def _top_gap(scores: np.ndarray) -> np.ndarray:
    """Per column of a (d, K) score matrix: best minus second-best entry (best alone if d = 1)."""
    ranked = np.sort(scores, axis=0)[::-1]
    return ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)


def mutual_information(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Mutual information in nats between each binned code dimension and each factor, ``(d, K)``."""
    codes, classes = _check(codes, factors)
    binned = [_bin(codes[:, i], bins) for i in range(codes.shape[1])]
    return np.array([[mutual_info_score(c, z) for c in classes.T] for z in binned])


def normalized_mutual_information(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Mutual information ``(d, K)`` divided by each factor's entropy: 1 = the dimension determines it."""
    classes = discretize_factors(factors)
    factor_entropy = np.array([mutual_info_score(c, c) for c in classes.T])
    return mutual_information(codes, classes, bins) / factor_entropy


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = BINS) -> tuple[float, np.ndarray]:
    """Mutual information gap: the mean and the per-factor normalised gaps."""
    gaps = _top_gap(normalized_mutual_information(codes, factors, bins))
    return float(gaps.mean()), gaps


def factor_vae_score(
    codes: np.ndarray,
    factors: np.ndarray,
    *,
    n_train: int = 5000,
    n_eval: int = 2500,
    batch_size: int = 64,
    seed: int = 0,
) -> float:
    """Held-out accuracy of the majority-vote classifier from least-varying dimension to fixed factor."""
    codes, classes = _check(codes, factors)
    scale = codes.std(0)
    active = scale >= FACTOR_VAE_MIN_STD
    if not active.any():
        return 0.0
    rng = np.random.default_rng(seed)
    n, n_factors = classes.shape
    # members[k][v]: the examples whose factor k has class v, for drawing batches with k fixed.
    members = [[np.flatnonzero(c == v) for v in range(c.max() + 1)] for c in classes.T]

    def votes(m: int) -> tuple[np.ndarray, np.ndarray]:
        fixed = rng.integers(n_factors, size=m)
        dims = np.empty(m, dtype=np.int64)
        for i, k in enumerate(fixed):
            pool = members[k][classes[rng.integers(n), k]]
            batch = codes[rng.choice(pool, batch_size, replace=len(pool) < batch_size)]
            spread = np.where(active, batch.var(0) / scale**2, np.inf)
            dims[i] = np.argmin(spread)
        return dims, fixed

    train_dims, train_factors = votes(n_train)
    counts = np.zeros((codes.shape[1], n_factors))
    np.add.at(counts, (train_dims, train_factors), 1)
    majority = counts.argmax(1)
    eval_dims, eval_factors = votes(n_eval)
    return float(np.mean(majority[eval_dims] == eval_factors))


def _normalised_entropy(weights: np.ndarray, base: int) -> float:
    """Entropy of ``weights`` (normalised to sum 1) in units of log(base): 0 (one-hot) to 1 (uniform)."""
    return float(entropy(weights, base=base)) if base > 1 else 0.0


def dci(codes: np.ndarray, factors: np.ndarray, *, n_trees: int = 30, seed: int = 0) -> dict[str, object]:
    """DCI disentanglement, completeness, informativeness, and the importance matrix ``(d, K)``."""
    codes, classes = _check(codes, factors)
    train, test = _split(len(codes), seed)
    d, n_factors = codes.shape[1], classes.shape[1]
    importance = np.zeros((d, n_factors))
    accuracy = np.zeros(n_factors)
    for k in range(n_factors):
        depth = int(np.ceil(np.log2(classes[:, k].max() + 1))) + 1
        forest = RandomForestClassifier(n_estimators=n_trees, max_depth=depth, max_features=None,
                                        random_state=seed)
        forest.fit(codes[train], classes[train, k])
        importance[:, k] = forest.feature_importances_
        accuracy[k] = forest.score(codes[test], classes[test, k])
    used = importance.sum(1) > 0
    if not used.any():  # constant codes: nothing predicts anything
        importance[:] = 1.0
        used[:] = True
    per_dim = np.array([1 - _normalised_entropy(row, n_factors) for row in importance[used]])
    weights = importance[used].sum(1) / importance.sum()
    completeness = np.array([
        1 - _normalised_entropy(col, d) if col.sum() > 0 else 0.0 for col in importance.T
    ])
    return {
        "disentanglement": float(weights @ per_dim),
        "completeness": float(completeness.mean()),
        "informativeness": float(accuracy.mean()),
        "completeness_per_factor": completeness,
        "informativeness_per_factor": accuracy,
        "importance": importance,
    }


def sap(codes: np.ndarray, factors: np.ndarray, *, seed: int = 0) -> tuple[float, np.ndarray]:
    """Separated attribute predictability: the mean and per-factor gaps."""
    codes, classes = _check(codes, factors)
    train, test = _split(len(codes), seed)
    scores = np.zeros((codes.shape[1], classes.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a rare class absent from the held-out part
        for k, c in enumerate(classes.T):
            for i in range(codes.shape[1]):
                tree = DecisionTreeClassifier(max_leaf_nodes=int(c.max()) + 1, random_state=seed)
                tree.fit(codes[train, i : i + 1], c[train])
                predicted = tree.predict(codes[test, i : i + 1])
                scores[i, k] = balanced_accuracy_score(c[test], predicted, adjusted=True)
    gaps = _top_gap(np.clip(scores, 0.0, None))
    return float(gaps.mean()), gaps


def disentanglement_scores(
    codes: np.ndarray, factors: np.ndarray, factor_names: list[str] | None = None, seed: int = 0
) -> DisentanglementScores:
    """MIG, FactorVAE score, DCI and SAP of ``codes`` against the known ``factors``."""
    factors = np.asarray(factors)
    factors = factors[:, None] if factors.ndim == 1 else factors
    names = list(factor_names) if factor_names is not None else [f"factor{k}" for k in range(factors.shape[1])]
    if len(names) != factors.shape[1]:
        raise DataError(f"{len(names)} factor names for {factors.shape[1]} factors")
    factors = discretize_factors(factors, names)  # once, with the names for any error
    mi = normalized_mutual_information(codes, factors)
    mig_gaps = _top_gap(mi)
    sap_score, sap_gaps = sap(codes, factors, seed=seed)
    d = dci(codes, factors, seed=seed)
    return DisentanglementScores(
        mig=float(mig_gaps.mean()),
        factor_vae=factor_vae_score(codes, factors, seed=seed),
        dci_disentanglement=d["disentanglement"],
        dci_completeness=d["completeness"],
        dci_informativeness=d["informativeness"],
        sap=sap_score,
        factor_names=names,
        per_factor={
            "mig": mig_gaps.tolist(),
            "sap": sap_gaps.tolist(),
            "completeness": d["completeness_per_factor"].tolist(),
            "informativeness": d["informativeness_per_factor"].tolist(),
        },
        normalized_mi=mi.tolist(),
    )


def score_model(vae: VAE, data: Dataset, seed: int = 0) -> DisentanglementScores:
    """The metrics of a fitted ``vae``'s posterior means on ``data``, which must carry factors."""
    if data.factors is None:
        raise DataError(f"{data.source or 'DATA'} has no known factors of variation; pass --factors FILE "
                        "(.npy or a table, one row per example) or use the built-in shapes data")
    return disentanglement_scores(vae.transform(data), data.factors, data.factor_names, seed=seed)
