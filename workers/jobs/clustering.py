"""Clustering task texts: reduce (PCA), cluster (HDBSCAN), then describe every point by its nearest
cluster centre, which is also how new calls are assigned between runs. PCA, not UMAP: UMAP keeps
the local topics of user turns and HDBSCAN then splits one task by them; PCA keeps the large gaps
between call sites. UMAP only draws the 2-D map.

HDBSCAN runs on a sample of at most FIT_MAX distinct vectors, drawn in proportion to how many calls
share each one: at 100k calls the sample holds the density structure, and the rest are assigned to
the centres found on it.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

FIT_MAX = 12_000
MAP_MAX = 2_500
THRESHOLD_PERCENTILE = 1.0  # a call less similar to its centre than 99% of the cluster's own members ...
THRESHOLD_MARGIN = 0.1  # ... by more than this margin fits no cluster (drift)

Progress = Callable[[float, str], object]


@dataclass
class Clustering:
    centroids: np.ndarray  # (k, d) unit vectors in the feature space
    spread: np.ndarray  # (k,) median similarity of members to their centre
    threshold: np.ndarray  # (k,) below this similarity a call does not belong
    labels: np.ndarray  # (m,) cluster index per input row, -1 for none
    confidence: np.ndarray  # (m,) 0..1
    map_rows: np.ndarray  # rows of the input drawn on the cluster map
    map_xy: np.ndarray  # (len(map_rows), 2)


def _numba_cache(cache_dir: str | None) -> None:
    """Where numba (HDBSCAN, UMAP) caches compiled code; NUMBA_CACHE_DIR set by the environment wins."""
    if cache_dir and "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = cache_dir


def auto_min_cluster_size(n: int) -> int:
    """A task worth a specialist is at least 1% of the calls looked at (and never under 10 calls)."""
    return max(10, round(n * 0.01))


def _sample(counts: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(counts) <= size:
        return np.arange(len(counts))
    p = counts / counts.sum()
    return np.sort(rng.choice(len(counts), size=size, replace=False, p=p))


def _pca(x: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_components = min(n_components, x.shape[0], x.shape[1])
    return np.asarray(PCA(n_components=n_components, random_state=seed).fit_transform(x), dtype=np.float32)


def _reduce(x: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    import umap

    n_neighbors = min(15, len(x) - 1)
    if len(x) <= n_components + 2:
        return x[:, :n_components]
    reducer = umap.UMAP(
        n_neighbors=n_neighbors,
        n_components=n_components,
        min_dist=0.0,
        metric="cosine",
        random_state=seed,
        low_memory=True,
        n_jobs=1,
        init="spectral" if len(x) > 50 else "random",
    )
    return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def centres(x: np.ndarray, labels: np.ndarray, k: int, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per cluster: its unit centre, the median and the low percentile of its members' similarity."""
    centroids = np.zeros((k, x.shape[1]), dtype=np.float32)
    spread = np.zeros(k, dtype=np.float32)
    threshold = np.zeros(k, dtype=np.float32)
    for c in range(k):
        members = labels == c
        centre = (x[members] * weights[members, None]).sum(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        centroids[c] = centre
        sims = x[members] @ centre
        spread[c] = float(np.median(sims))
        threshold[c] = float(np.percentile(sims, THRESHOLD_PERCENTILE)) - THRESHOLD_MARGIN
    return centroids, spread, threshold


def assign(
    x: np.ndarray, centroids: np.ndarray, spread: np.ndarray, threshold: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre by cosine; confidence 1 at the members' median similarity, 0 at the threshold."""
    if len(centroids) == 0 or len(x) == 0:
        return np.full(len(x), -1, dtype=np.int64), np.zeros(len(x), dtype=np.float32)
    labels = np.empty(len(x), dtype=np.int64)
    confidence = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), 20_000):
        sims = x[start : start + 20_000] @ centroids.T
        best = sims.argmax(axis=1)
        sim = sims[np.arange(len(best)), best]
        span = np.maximum(spread[best] - threshold[best], 1e-6)
        conf = np.clip((sim - threshold[best]) / span, 0.0, 1.0)
        fits = sim >= threshold[best]
        labels[start : start + len(best)] = np.where(fits, best, -1)
        confidence[start : start + len(best)] = np.where(fits, conf, 0.0)
    return labels, confidence


def cluster(
    x: np.ndarray,
    counts: np.ndarray,
    *,
    min_cluster_size: int | None = None,
    seed: int = 42,
    n_components: int = 10,
    progress: Progress | None = None,
    cache_dir: str | None = None,
) -> Clustering:
    """`x`: distinct unit feature vectors; `counts`: how many calls share each one. `progress(fraction,
    message)` between steps. `cache_dir`: numba's compiled-code cache."""
    _numba_cache(cache_dir)
    import hdbscan

    report = progress or (lambda fraction, message: None)
    rng = np.random.default_rng(seed)
    fit = _sample(counts.astype(np.float64), FIT_MAX, rng)
    fit_n = int(counts[fit].sum()) if len(fit) < len(x) else int(counts.sum())
    mcs = min_cluster_size or auto_min_cluster_size(fit_n)
    report(0.05, f"Reducing {len(fit):,} distinct texts to {n_components} dimensions (PCA)")
    reduced = _pca(x[fit], n_components, seed)
    report(0.55, f"Clustering (HDBSCAN, smallest task {mcs} calls)")
    # Repeated texts are repeated for HDBSCAN (a few copies, never enough to make a cluster alone),
    # so density reflects traffic.
    repeat = np.minimum(counts[fit], max(1, min(20, mcs // 3))).astype(np.int64)
    points = np.repeat(reduced, repeat, axis=0)
    owner = np.repeat(np.arange(len(fit)), repeat)
    model = hdbscan.HDBSCAN(
        min_cluster_size=max(2, mcs),
        min_samples=min(10, max(2, mcs)),
        cluster_selection_method="eom",
        allow_single_cluster=True,
        core_dist_n_jobs=1,
    )
    point_labels = model.fit_predict(points)
    fit_labels = np.full(len(fit), -1, dtype=np.int64)
    fit_labels[owner] = point_labels  # every copy of a text carries the same label but for rare ties
    k = int(fit_labels.max()) + 1
    report(0.8, f"Found {k} clusters; assigning every call to its nearest centre")
    centroids, spread, threshold = centres(x[fit], fit_labels, k, counts[fit].astype(np.float32))
    labels, confidence = assign(x, centroids, spread, threshold)
    map_rows = fit[:MAP_MAX] if len(fit) <= MAP_MAX else np.sort(rng.choice(fit, size=MAP_MAX, replace=False))
    position = {row: i for i, row in enumerate(fit)}
    report(0.85, f"Drawing the map of {len(map_rows):,} calls")
    map_xy = _reduce(reduced[[position[r] for r in map_rows]], 2, seed)
    return Clustering(centroids, spread, threshold, labels, confidence, map_rows, map_xy)
