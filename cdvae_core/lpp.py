"""Locality Preserving Projections (He and Niyogi, 2003): the embedding that guides the codes.

The recipe (DESIGN "Facts from the references"):

1. centre the features and project them on their leading principal components (through the
   covariance, or scikit-learn's randomized PCA for wide features), so that the d x d matrix
   X D X^T below is non-singular and the graph search is cheap;
2. a k-nearest-neighbour graph in that PCA space, symmetrised (i ~ j when either is among the
   other's k nearest), with heat weights W_ij = exp(-||y_i - y_j||^2 / t) where t is the mean
   squared neighbour distance; D = diag(W 1), L = D - W, all sparse (never an N x N array);
3. the d x d generalised problem  Y^T L Y a = lambda (Y^T D Y + ridge) a  (scipy.linalg.eigh
   with subset_by_index), keeping the eigenvectors of the smallest eigenvalues.

With centred data no projection can be the constant vector (the trivial solution of
L y = lambda D y), and PCA drops zero-variance directions, so the trivial eigenvector does not
appear; components of (numerically) zero spread are skipped all the same.

Identical feature vectors are one node of the graph, weighted by their count m: the kNN graph
joins distinct vectors, and every copy of u is joined to every copy of its neighbour v, which on
the distinct vectors is the graph W'_uv = m_u W_uv m_v (so Y^T D Y and Y^T L Y sum over every row
as before). Otherwise a vector repeated more than k times has only its own copies, at distance
zero, as neighbours: the graph falls apart into groups of copies, every projection costs nothing
on it and the eigenproblem is degenerate (all eigenvalues 0, arbitrary directions). Repeating
every row the same number of times leaves the projection unchanged.

Only the graph search is costly. Up to ``EXACT_LIMIT`` points it is exact (brute force through
scikit-learn NearestNeighbors); above, it is searched inside a k-means partition of the PCA space
(each cell against its ``PROBES`` nearest cells), which keeps 80,000 points in seconds with
nearly all true neighbours found (the benchmark prints the recall).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

EXACT_LIMIT = 20_000  # "auto" graph search is exact (brute force) up to this many points
CELL_SIZE = 256  # mean points per k-means cell in the partitioned search
PROBES = 8  # cells searched per cell (its own and the nearest others)
RIDGE = 1e-6  # added to Y^T D Y, relative to its mean diagonal
MIN_RELATIVE_VARIANCE = 1e-6  # PCA components weaker than this (vs the strongest) are dropped
KNN_MODES = ("auto", "exact", "partitioned")


class LPPError(ValueError):
    """Features or settings LPP cannot work with, with a one-line reason."""


@dataclass(frozen=True)
class LPP:
    """A fitted projection: ``transform(f) = (f - mean) @ projection / scale``.

    mean (F,), projection (F, dim) (PCA and LPP composed), scale (dim,) the spread of each
    component on the fitting set (so transformed fitting features have zero mean and unit
    variance), eigenvalues (dim,) the LPP objective a^T Y^T L Y a / a^T Y^T D Y a, ascending.
    """

    mean: np.ndarray
    projection: np.ndarray
    scale: np.ndarray
    eigenvalues: np.ndarray

    def __post_init__(self) -> None:
        f, dim = self.projection.shape if self.projection.ndim == 2 else (-1, -1)
        if self.mean.shape != (f,) or self.scale.shape != (dim,) or self.eigenvalues.shape != (dim,):
            raise LPPError(
                f"inconsistent LPP arrays: mean {self.mean.shape}, projection {self.projection.shape}, "
                f"scale {self.scale.shape}, eigenvalues {self.eigenvalues.shape}"
            )
        if not (np.isfinite(self.projection).all() and np.isfinite(self.mean).all()
                and np.isfinite(self.eigenvalues).all()):
            raise LPPError("LPP arrays hold NaN or infinite values")
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()):
            raise LPPError("LPP scale must be finite and positive")

    @property
    def dim(self) -> int:
        return int(self.projection.shape[1])

    @property
    def features(self) -> int:
        return int(self.projection.shape[0])

    def transform(self, features: np.ndarray) -> np.ndarray:
        """(M, F) features -> (M, dim) float32 embedding targets."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[1] != self.features:
            raise LPPError(f"features must have shape (M, {self.features}), got {features.shape}")
        out = (features.astype(np.float32, copy=False) - self.mean) @ self.projection
        return (out / self.scale).astype(np.float32, copy=False)

    def to_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Plain float32 arrays keyed ``{prefix}mean`` etc., ready for safetensors."""
        return {
            f"{prefix}{name}": np.ascontiguousarray(getattr(self, name), np.float32)
            for name in ("mean", "projection", "scale", "eigenvalues")
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "") -> "LPP":
        """Inverse of ``to_arrays``; missing keys or disagreeing shapes raise LPPError."""
        names = ("mean", "projection", "scale", "eigenvalues")
        missing = [f"{prefix}{n}" for n in names if f"{prefix}{n}" not in arrays]
        if missing:
            raise LPPError(f"LPP arrays lack {', '.join(missing)}")
        return cls(*(np.asarray(arrays[f"{prefix}{n}"], np.float32) for n in names))


def fit_lpp(
    features: np.ndarray,
    dim: int,
    neighbours: int = 10,
    pca_dim: int | None = None,
    seed: int = 0,
    *,
    knn: str = "auto",
) -> LPP:
    """Fit LPP to ``features`` (N, F) and return the projection to ``dim`` components.

    ``pca_dim`` defaults to min(F, N - 1, max(64, 4 * dim)); ``knn`` is "exact", "partitioned"
    or "auto" (exact up to EXACT_LIMIT points). ``seed`` fixes the randomized parts.
    """
    x = _check(features, dim, neighbours, knn)
    n, f = x.shape
    if pca_dim is None and min(f, n - 1) < dim:  # not "pca_dim must lie in": the caller gave none
        raise LPPError(f"{n} feature vectors of {f} features give at most min(F, N - 1) = {min(f, n - 1)} "
                       f"components, fewer than dim={dim}")
    p = default_pca_dim(n, f, dim) if pca_dim is None else int(pca_dim)
    if not dim <= p <= min(f, n - 1):
        raise LPPError(f"pca_dim must lie in [dim={dim}, min(F, N - 1)={min(f, n - 1)}], got {p}")
    mean, components, y = _pca(x, p, seed)  # (F,), (p', F), (N, p') centred
    if y.shape[1] < dim:
        raise LPPError(f"the features span only {y.shape[1]} directions (principal components with at least "
                       f"{MIN_RELATIVE_VARIANCE:g} of the largest variance), fewer than dim={dim}")
    # Identical feature vectors are one node of the graph, weighted by their count (module doc).
    groups = distinct_rows(x)  # None when every row differs: the graph is the plain one
    nodes, counts = (y, None) if groups is None else (y[groups[0]], np.bincount(groups[1]).astype(np.float64))
    k = min(neighbours, len(nodes) - 1)  # a few distinct vectors: each is joined to all others
    exact = knn == "exact" or (knn == "auto" and len(nodes) <= EXACT_LIMIT)
    idx, dist = (_exact_knn if exact else _partitioned_knn)(nodes, k, seed)
    w = heat_graph(idx, dist)
    if counts is not None:  # every copy of u joined to every copy of v: W'_uv = m_u W_uv m_v
        w = (sp.diags(counts) @ w @ sp.diags(counts)).tocsr()
    a, eigenvalues = _solve(nodes, w, dim)  # (p', dim), (dim,)
    projection = components.T.astype(np.float64) @ a  # (F, dim)
    # Signs fixed in feature space (largest loading positive): PCA's own signs are arbitrary
    # (scaling the covariance, e.g. by repeating every row, or BLAS threads can flip them), so a
    # rule on the PCA loadings flipped components of the same problem.
    signs = np.sign(projection[np.abs(projection).argmax(axis=0), np.arange(dim)])
    projection, a = projection * signs, a * signs
    scale = (y.astype(np.float64) @ a).std(axis=0)  # (dim,): y is centred, so mean is 0
    return LPP(
        mean=mean.astype(np.float32),
        projection=projection.astype(np.float32),
        scale=scale.astype(np.float32),
        eigenvalues=eigenvalues.astype(np.float32),
    )


def default_pca_dim(n: int, f: int, dim: int) -> int:
    """PCA size when none is given: min(F, N - 1, max(64, 4 * dim))."""
    return min(f, n - 1, max(64, 4 * dim))


def _check(features: np.ndarray, dim: int, neighbours: int, knn: str) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2:
        raise LPPError(f"features must have shape (N, F), got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise LPPError(f"features must be real numbers, got {x.dtype}")
    if not np.isfinite(x).all():
        raise LPPError("features hold NaN or infinite values")
    with np.errstate(over="ignore"):  # checked just below, with a message that says why
        x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise LPPError(f"features exceed float32's range (largest magnitude {np.abs(np.asarray(features)).max():.3g}); "
                       "LPP computes in float32: rescale them")
    if knn not in KNN_MODES:
        raise LPPError(f"knn must be one of {', '.join(KNN_MODES)}, got {knn!r}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (dim, neighbours)):
        raise LPPError(f"dim and neighbours must be whole numbers, got {dim!r} and {neighbours!r}")
    if dim < 1 or neighbours < 1:
        raise LPPError(f"dim and neighbours must be positive, got {dim} and {neighbours}")
    if x.shape[0] <= max(neighbours, dim) + 1:
        raise LPPError(f"{x.shape[0]} feature vectors are too few for {neighbours} neighbours and dim {dim}")
    if (x == x[0]).all():
        raise LPPError("features have no variance (all vectors are equal)")
    return x


def _pca(x: np.ndarray, p: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and project x (N, F) -> mean (F,), components (p', F), scores (N, p') float32.

    Up to 2,048 features, or for tall data (N >= 4F), through the F x F covariance, as
    scikit-learn's ``covariance_eigh`` solver does (measured 0.7 s against 3.5 s for randomized
    SVD at 80,000 x 1,104), but with only the top p eigenpairs solved, on one thread: LAPACK's
    tridiagonal reduction gains little from threads and, on a busy machine, lost 5-10x to them.
    Otherwise scikit-learn's randomized SVD when p is well below the rank, else a full SVD.
    Components with negligible variance are dropped so Y^T D Y stays well conditioned.
    """
    n, f = x.shape
    if n >= 4 * f or f <= 2048:
        mean = x.mean(axis=0, dtype=np.float64)
        xc = x - mean.astype(np.float32)  # (N, F)
        cov = (xc.T @ xc).astype(np.float64) / (n - 1)  # (F, F)
        with threadpool_limits(1, user_api="blas"):
            var, vec = scipy.linalg.eigh(cov, subset_by_index=[f - p, f - 1])
        var, components = var[::-1], np.ascontiguousarray(vec[:, ::-1].T)  # descending; (p, F)
        y = xc @ components.T.astype(np.float32)  # (N, p)
    else:
        solver = "randomized" if p < 0.8 * min(n, f) else "full"
        pca = PCA(n_components=p, svd_solver=solver, random_state=seed)
        y = pca.fit_transform(x)
        mean, components, var = pca.mean_, pca.components_, pca.explained_variance_
    if not var[0] > 0:
        raise LPPError("features have no variance (all vectors are equal)")
    keep = var > MIN_RELATIVE_VARIANCE * var[0]
    return mean, components[keep], np.ascontiguousarray(y[:, keep], np.float32)


def distinct_rows(x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray] | None:
    """Groups of identical rows of x (N, F) float32: (first (n_u,), inverse (N,)) with ``first``
    the row of each distinct vector's first occurrence (ascending) and ``x[first][inverse] == x``;
    None when every row differs.

    Exact, through a universal hash of each row's 32-bit words (integer multiply-add modulo 2^64,
    so the key of a row does not depend on where it sits, as a BLAS product's rounding can), then
    a comparison of every grouped row with its representative (a collision falls back to sorting
    the rows). About 0.4 s at 80,000 x 1,104; ``np.unique(axis=0)`` took 2.6 s.
    """
    n = len(x)
    words = np.ascontiguousarray(x, np.float32).view(np.uint32)
    _, first, inverse = np.unique(_row_keys(words, chunk), return_index=True, return_inverse=True)
    if len(first) == n:
        return None
    rep = first[inverse.ravel()]
    moved = np.flatnonzero(rep != np.arange(n))
    for start in range(0, len(moved), chunk):
        part = moved[start : start + chunk]
        if not (words[part] == words[rep[part]]).all():  # a hash collision: sort the rows instead
            _, first, inverse = np.unique(words, axis=0, return_index=True, return_inverse=True)
            break
    order = np.argsort(first)  # distinct vectors in order of first occurrence
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


def _row_keys(words: np.ndarray, chunk: int) -> np.ndarray:
    """(N,) uint64 hash of each row of words (N, F) uint32: sum of word x odd random multiplier."""
    n, f = words.shape
    mult = np.random.default_rng(0x5EED).integers(1, 2**63, size=f, dtype=np.uint64) | np.uint64(1)
    keys = np.empty(n, np.uint64)
    for start in range(0, n, chunk):  # chunks: a (N, F) uint64 copy would be 8x the features
        keys[start : start + chunk] = (words[start : start + chunk].astype(np.uint64) * mult).sum(axis=1)
    return keys


def _exact_knn(y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force k nearest neighbours of every row, itself excluded: (N, k) ints, (N, k) dists."""
    del seed  # exact search needs no randomness
    dist, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(y).kneighbors()
    return idx, dist


def _partitioned_knn(y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate kNN (N, k) by searching each k-means cell against its nearest cells.

    Cost ~ N * PROBES * CELL_SIZE * p, linear in N, against N^2 p for brute force. The cells
    are small, so each block is one float32 GEMM and an argpartition (scikit-learn's per-call
    overhead dominated at this size); the kept distances are recomputed exactly in float64.
    """
    n = y.shape[0]
    cells = max(2, n // CELL_SIZE)
    rng = np.random.default_rng(seed)
    sample = y[rng.choice(n, size=min(n, 20 * cells), replace=False)]  # rough cells suffice
    km = MiniBatchKMeans(n_clusters=cells, batch_size=4096, n_init=1, max_iter=10, random_state=seed)
    labels = km.fit(sample).predict(y)
    members = [np.flatnonzero(labels == c) for c in range(cells)]
    sizes = np.array([m.size for m in members])
    centres = km.cluster_centers_
    sq = (centres**2).sum(1)
    centre_order = np.argsort(sq[:, None] - 2 * centres @ centres.T + sq[None, :], axis=1)  # (cells, cells)
    norms = (y**2).sum(1)  # (N,)
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k), np.float64)
    with threadpool_limits(1, user_api="blas"):  # small GEMMs: threads cost more than they give
        for c in range(cells):
            _search_cell(y, norms, members, sizes, centre_order[c], members[c], k, idx, dist)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)


def _search_cell(
    y: np.ndarray,
    norms: np.ndarray,
    members: list[np.ndarray],
    sizes: np.ndarray,
    probe_order: np.ndarray,
    query: np.ndarray,
    k: int,
    idx: np.ndarray,
    dist: np.ndarray,
) -> None:
    """k nearest of the ``query`` rows among the cells nearest theirs (``probe_order``, its own
    first); writes rows ``query`` of idx (N, k) and dist (N, k)."""
    if query.size:
        # Enough probes for at least k + 1 candidates, even around tiny cells.
        reach = max(PROBES, int(np.searchsorted(np.cumsum(sizes[probe_order]), k + 1)) + 1)
        cand = np.concatenate([members[j] for j in probe_order[:reach]])
        d2 = norms[cand][None, :] - 2.0 * (y[query] @ y[cand].T)  # (q, m) up to the query's norm
        d2[cand[None, :] == query[:, None]] = np.inf  # never one's own neighbour
        near = cand[np.argpartition(d2, k - 1, axis=1)[:, :k]]  # (q, k) unordered
        diff = y[near].astype(np.float64) - y[query][:, None, :]  # (q, k, p)
        idx[query], dist[query] = near, np.sqrt((diff**2).sum(-1))


def heat_graph(idx: np.ndarray, dist: np.ndarray) -> sp.csr_matrix:
    """Symmetric sparse heat-kernel weights (N, N) from kNN lists idx, dist (N, k).

    W_ij = exp(-d_ij^2 / t), t = mean squared neighbour distance; an edge exists when either
    end lists the other (W = max(W, W^T), the same weight both ways since d_ij = d_ji).
    """
    n, k = idx.shape
    d2 = dist.astype(np.float64) ** 2
    t = d2.mean()
    if not t > 0:
        raise LPPError("all neighbour distances are zero (duplicated feature vectors)")
    w = sp.csr_matrix((np.exp(-d2 / t).ravel(), idx.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n))
    return w.maximum(w.T).tocsr()


def _solve(y: np.ndarray, w: sp.csr_matrix, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Smallest-eigenvalue solutions of Y^T L Y a = lambda (Y^T D Y + ridge) a.

    Returns a (p, dim) (signs: ``fit_lpp`` fixes them in feature space) and lambda (dim,).
    """
    y64 = y.astype(np.float64)
    deg = np.asarray(w.sum(axis=1)).ravel()  # (N,) diagonal of D
    with threadpool_limits(1, user_api="blas"):  # tall-skinny products: measured 7x faster on one thread
        ydy = y64.T @ (deg[:, None] * y64)  # (p, p)
        yly = ydy - y64.T @ (w @ y64)  # (p, p): Y^T (D - W) Y
    yly = 0.5 * (yly + yly.T)
    p = ydy.shape[0]
    ydy += RIDGE * np.trace(ydy) / p * np.eye(p)
    extra = min(1, p - dim)  # one spare in case a zero-spread component must be skipped
    lam, a = scipy.linalg.eigh(yly, ydy, subset_by_index=[0, dim - 1 + extra])
    spread = (y64 @ a).std(axis=0)
    keep = np.flatnonzero(spread > 1e-9 * spread.max())[:dim]
    if keep.size < dim:
        raise LPPError(f"only {keep.size} non-degenerate LPP components exist, fewer than dim={dim}")
    return a[:, keep], lam[keep]


def dense_reference_lpp(x: np.ndarray, dim: int, k: int, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Textbook LPP with dense N x N matrices, the reference ``fit_lpp`` is checked against on
    small sets (tests/test_lpp.py, benchmarks/bench_lpp.py): PCA by full SVD to p components,
    exact kNN by a full distance matrix, heat kernel, dense generalised eigenproblem.

    x (N, F) -> directions (F, dim) in feature space (up to sign) and eigenvalues (dim,).

    Identical rows are merged as ``fit_lpp`` documents, but spelt out densely: the kNN graph of
    the distinct vectors is expanded to all N rows (row i joined to every row whose vector is a
    neighbour of i's), so the count-weighted graph of ``fit_lpp`` is checked, not repeated.
    """
    _, first, inverse = np.unique(x, axis=0, return_index=True, return_inverse=True)
    x = x.astype(np.float64)
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    basis = vt[:p].T  # (F, p) PCA directions
    y = xc @ basis
    u = y[first]  # (n_u, p) the distinct vectors
    k = min(k, len(u) - 1)
    d = cdist(u, u)  # (n_u, n_u)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(u)), k)
    d2 = d[rows, nearest.ravel()] ** 2
    w_u = np.zeros_like(d)
    w_u[rows, nearest.ravel()] = np.exp(-d2 / d2.mean())
    w_u = np.maximum(w_u, w_u.T)
    inverse = inverse.ravel()
    w = w_u[inverse][:, inverse]  # (N, N)
    deg = np.diag(w.sum(1))
    a_mat, b_mat = y.T @ (deg - w) @ y, y.T @ deg @ y
    b_mat += RIDGE * np.trace(b_mat) / p * np.eye(p)
    lam, vec = scipy.linalg.eigh(a_mat, b_mat)
    return basis @ vec[:, :dim], lam[:dim]
