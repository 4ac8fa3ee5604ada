"""A compiled predictor for LightGBM binary models: the trees as flat arrays, walked by numba.

LightGBM's ``Booster.predict`` costs tens of microseconds per call whatever the number of rows
(argument checks, a C++ predictor set-up); the authorization path scores one row at a time. This
module flattens the text model (``Booster.dump_model()``) into arrays and walks them in a numba
function, with LightGBM's exact split semantics (missing values, default directions, zero
handling), so one row costs a few microseconds. Numerical splits only (cardmind's models use no
categorical splits); anything else is refused at compile time.

``contributions`` computes the same path-dependent tree SHAP values as LightGBM's
``predict(pred_contrib=True)`` (Lundberg et al. 2018, Algorithm 2, with the training row counts
of each node as cover), over the same arrays, in numba: the reasons of a decline cost one tree
walk per leaf instead of a LightGBM predictor set-up. Equal to LightGBM to ~1e-12
(``tests/models/test_compiled_shap.py``). Models whose paths have at most 16 distinct features
are explained by the planned kernel of :mod:`cardmind.models.treeshap` (the same values, ~4x
faster); ``_shap`` below is the general kernel for the others.

The one-row kernels keep the GIL: they take microseconds, and releasing it would hand the
interpreter to another thread (the decision-log writer) that the deciding thread must then wait
for, up to the interpreter's 5 ms switch interval, when it needs the GIL back (measured: 18 us
median but 150 us mean per walk inside the engine with ``nogil``).

>>> import lightgbm as lgb, numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(500, 3)); X[::5, 1] = np.nan
>>> b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, X[:, 0] > 0.5),
...               num_boost_round=20)
>>> forest = CompiledForest.from_booster(b)
>>> bool(np.allclose(forest.predict(X), b.predict(X), atol=1e-12))
True
>>> bool(abs(forest.predict_one(X[3]) - b.predict(X[3:4])[0]) < 1e-12)
True
>>> bool(np.allclose(forest.contributions(X[:50]), b.predict(X[:50], pred_contrib=True),
...                  rtol=0, atol=1e-9))
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

from cardmind.errors import InvalidInput

_K_ZERO = 1e-35
_MISSING = {"None": 0, "Zero": 1, "NaN": 2}


@njit(cache=True, nogil=True)
def _walk(
    x, roots, feature, threshold, left, right, default_left, missing, leaf_value
):  # pragma: no cover - numba
    total = 0.0
    for t in range(roots.shape[0]):
        node = roots[t]
        while node >= 0:
            v = x[feature[node]]
            mt = missing[node]
            if np.isnan(v) and mt != 2:
                v = 0.0
            if (mt == 1 and -_K_ZERO <= v <= _K_ZERO) or (mt == 2 and np.isnan(v)):
                node = left[node] if default_left[node] else right[node]
            elif v <= threshold[node]:
                node = left[node]
            else:
                node = right[node]
        total += leaf_value[~node]
    return total


@njit(cache=True, nogil=True)
def _walk_many(
    X, roots, feature, threshold, left, right, default_left, missing, leaf_value
):  # pragma: no cover - numba
    out = np.empty(X.shape[0])
    for i in range(X.shape[0]):
        out[i] = _walk(
            X[i], roots, feature, threshold, left, right, default_left, missing, leaf_value
        )
    return out


_INTERLEAVE = 8  # trees walked side by side: their memory loads overlap


@njit(cache=True)  # keeps the GIL: see the module docstring
def _walk_packed(x, roots, values, links, out):  # pragma: no cover - numba
    """Raw score of row ``x`` over the packed node table (one 16-byte row per node or leaf).

    ``values`` and ``links`` are two views of one ``(n, 2)`` buffer: column 0 of ``values``
    holds the threshold (a leaf: its value), column 1 of ``links`` the node's packed links
    (see :func:`pack_nodes`); the left child is the next row. The walk is bound by memory
    latency once other work has pushed the trees out of the CPU caches (the authorization
    engine between two decisions): rows are half the size of a four-column layout, and
    ``_INTERLEAVE`` trees advance one level at a time, so that the loads of different trees
    are in flight together. Leaf values are summed in tree order, as LightGBM does. ``out`` is
    scratch space of one value per tree.
    """
    n_trees = roots.shape[0]
    cur = np.empty(_INTERLEAVE, np.int64)
    for base in range(0, n_trees, _INTERLEAVE):
        k = min(_INTERLEAVE, n_trees - base)
        for j in range(k):
            cur[j] = roots[base + j]
        active = k
        while active > 0:
            active = 0
            for j in range(k):
                r = cur[j]
                if r < 0:
                    continue
                m = links[r, 1]
                if m < 0:  # a leaf: its value is in the threshold column
                    out[base + j] = values[r, 0]
                    cur[j] = -1
                    continue
                active += 1
                mt = (m >> 20) & 3
                v = x[m & 0xFFFFF]
                if np.isnan(v) and mt != 2:
                    v = 0.0
                if (mt == 1 and -_K_ZERO <= v <= _K_ZERO) or (mt == 2 and np.isnan(v)):
                    go_left = ((m >> 22) & 1) == 1
                else:
                    go_left = v <= values[r, 0]
                cur[j] = r + 1 if go_left else m >> 32
    total = 0.0
    for t in range(n_trees):
        total += out[t]
    return total


def pack_nodes(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The packed table of :func:`_walk_packed` from the flat arrays: per tree, nodes and
    leaves in depth-first order (a node's left child is the next row), each a 16-byte row of a
    float64 (threshold, or a leaf's value) and an int64 ``feature | missing type << 20 |
    default left << 22 | right child row << 32`` (a leaf: -1). Returns the root rows and two
    views of the table, as float64 and as int64.

    >>> arrays = {"roots": np.array([0]), "feature": np.array([3]), "threshold": np.array([0.5]),
    ...           "left": np.array([-1]), "right": np.array([-2]), "missing": np.array([2]),
    ...           "default_left": np.array([True]), "leaf_value": np.array([-1.0, 1.0])}
    >>> roots, values, links = pack_nodes(arrays)
    >>> link = int(links[0, 1])
    >>> values[:, 0].tolist(), link >> 32, link & 0xFFFFF, links[1:, 1].tolist()
    ([0.5, -1.0, 1.0], 2, 3, [-1, -1])
    """
    feature, left, right = arrays["feature"], arrays["left"], arrays["right"]
    rows: list[tuple[float, int]] = []

    def add(node: int) -> int:
        at = len(rows)
        if node < 0:
            rows.append((float(arrays["leaf_value"][~node]), -1))
            return at
        meta = (int(feature[node]) | int(arrays["missing"][node]) << 20
                | int(bool(arrays["default_left"][node])) << 22)
        rows.append((float(arrays["threshold"][node]), meta))
        if add(int(left[node])) != at + 1:  # pragma: no cover - depth-first by construction
            raise AssertionError("the left child must follow its node")
        rrow = add(int(right[node]))
        rows[at] = (rows[at][0], meta | rrow << 32)
        return at

    roots = np.array([add(int(r)) for r in arrays["roots"]], np.int64)
    values = np.zeros((len(rows), 2), np.float64)
    links = values.view(np.int64)
    for i, (value, link) in enumerate(rows):
        values[i, 0] = value
        links[i, 1] = link
    return roots, values, links


@njit(cache=True, nogil=True, inline="always")
def _child(v, node, feature, threshold, left, right, default_left, missing):  # pragma: no cover
    """The child a value goes to at ``node`` (LightGBM's numerical decision)."""
    mt = missing[node]
    if np.isnan(v) and mt != 2:
        v = 0.0
    if (mt == 1 and -_K_ZERO <= v <= _K_ZERO) or (mt == 2 and np.isnan(v)):
        return left[node] if default_left[node] else right[node]
    if v <= threshold[node]:
        return left[node]
    return right[node]


@njit(cache=True)  # keeps the GIL: see the module docstring
def _shap(
    x, phi, roots, feature, threshold, left, right, default_left, missing, leaf_value,
    frac_node, frac_leaf, expected, max_depth, tree_n, t_table, w_table,
):  # pragma: no cover - numba
    """Add the tree SHAP values of row ``x`` to ``phi`` (last element: the expected value).

    Path-dependent tree SHAP in O(nodes x len(t)) per tree ("linear TreeSHAP"). For a leaf L
    with value v, the features j on its path have a zero fraction z_j (share of training rows
    following the path's splits on j) and a one fraction o_j (1 when x follows them all, else 0);
    feature i's Shapley share of the leaf is

        v (o_i - z_i) * integral over [0, 1] of prod_{j != i} (z_j (1 - t) + o_j t) dt,

    because the Shapley weight s! (k - s - 1)! / k! is the Beta integral of t^s (1 - t)^(k-1-s).
    The integrand is a polynomial of degree < depth, integrated exactly by Gauss-Legendre
    quadrature (``tree_n[tree]`` nodes ``t_table[n]``, weights ``w_table[n]``; n is half the
    largest number of distinct features on a path of the tree). One depth-first pass carries the product over the
    path down (Q) and the sums of v * Q over the leaves of each subtree up (S); feature i's share
    is taken at each edge that splits on i, from the leaves below it that have no deeper split
    on i (those are credited at the deeper edge).
    """
    nf = phi.shape[0] - 1
    width = t_table.shape[1]
    levels = max_depth + 2
    Q = np.empty((levels, width))
    S = np.empty((levels, width))  # sum of v * Q over the finished children of a level's node
    acc = np.empty((levels, width))  # S of the deeper splits on the same feature below an edge
    inv_p = np.empty((levels, width))  # 1 / (z (1 - t) + o t) of the edge into a level
    ret = np.empty(width)
    node_at = np.empty(levels, np.int64)
    phase = np.empty(levels, np.int64)
    hot_at = np.empty(levels, np.int64)
    e_feat = np.empty(levels, np.int64)
    e_gain = np.empty(levels)  # o - z of the edge into a level
    saved_z = np.empty(levels)
    saved_o = np.empty(levels)
    saved_edge = np.empty(levels, np.int64)
    cur_z = np.ones(nf)
    cur_o = np.ones(nf)
    edge_of = np.full(nf, -1, np.int64)  # level of the deepest open edge splitting on a feature
    for tree in range(roots.shape[0]):
        phi[nf] += expected[tree]
        if roots[tree] < 0:  # a single leaf: only the expected value
            continue
        n = tree_n[tree]
        t = t_table[n]
        tw = w_table[n]
        lv = 0
        node_at[0] = roots[tree]
        phase[0] = 0
        for m in range(n):
            Q[0, m] = 1.0
            S[0, m] = 0.0
        while lv >= 0:
            node = node_at[lv]
            if node >= 0 and phase[lv] < 2:  # go down to the left, then to the right child
                f = feature[node]
                if phase[lv] == 0:
                    hot_at[lv] = _child(x[f], node, feature, threshold, left, right,
                                        default_left, missing)
                child = left[node] if phase[lv] == 0 else right[node]
                phase[lv] += 1
                z = cur_z[f] * (frac_node[child] if child >= 0 else frac_leaf[~child])
                o = cur_o[f] if child == hot_at[lv] else 0.0
                c = lv + 1
                up = edge_of[f]
                if up >= 0:  # f split before on this path: its old factor is replaced
                    for m in range(n):
                        pn = z * (1.0 - t[m]) + o * t[m]
                        inv_p[c, m] = 1.0 / pn
                        Q[c, m] = Q[lv, m] * pn * inv_p[up, m]
                        S[c, m] = 0.0
                        acc[c, m] = 0.0
                else:
                    for m in range(n):
                        pn = z * (1.0 - t[m]) + o * t[m]
                        inv_p[c, m] = 1.0 / pn
                        Q[c, m] = Q[lv, m] * pn
                        S[c, m] = 0.0
                        acc[c, m] = 0.0
                e_feat[c], e_gain[c] = f, o - z
                saved_z[c], saved_o[c], saved_edge[c] = cur_z[f], cur_o[f], up
                cur_z[f], cur_o[f], edge_of[f] = z, o, c
                node_at[c] = child
                phase[c] = 0
                lv = c
                continue
            if node < 0:  # a leaf: v * Q
                value = leaf_value[~node]
                for m in range(n):
                    ret[m] = value * Q[lv, m]
            else:  # both children done: S of the subtree, owed to the enclosing split on f
                up = edge_of[feature[node]]
                for m in range(n):
                    ret[m] = S[lv, m]
                if up >= 0:
                    for m in range(n):
                        acc[up, m] += ret[m]
            if lv == 0:
                break
            # back over the edge into this node: credit its feature, restore its state
            f = e_feat[lv]
            total = 0.0
            for m in range(n):
                total += tw[m] * (ret[m] - acc[lv, m]) * inv_p[lv, m]
            phi[f] += e_gain[lv] * total
            cur_z[f], cur_o[f], edge_of[f] = saved_z[lv], saved_o[lv], saved_edge[lv]
            lv -= 1
            for m in range(n):
                S[lv, m] += ret[m]


@njit(cache=True, nogil=True)
def _shap_many(
    X, roots, feature, threshold, left, right, default_left, missing, leaf_value,
    frac_node, frac_leaf, expected, max_depth, tree_n, t_table, w_table,
):  # pragma: no cover - numba
    out = np.zeros((X.shape[0], X.shape[1] + 1))
    for i in range(X.shape[0]):
        _shap(X[i], out[i], roots, feature, threshold, left, right, default_left, missing,
              leaf_value, frac_node, frac_leaf, expected, max_depth, tree_n, t_table,
              w_table)
    return out


class CompiledForest:
    """Flat arrays of a LightGBM binary model; ``predict*`` return probabilities (sigmoid),
    ``contributions*`` tree SHAP values in log-odds (last column: the expected value)."""

    _WALK = ("roots", "feature", "threshold", "left", "right", "default_left", "missing",
             "leaf_value")
    _SHAP = ("node_count", "leaf_count", "expected", "tree_unique")

    def __init__(self, arrays: dict[str, np.ndarray], *, sigmoid: float, num_feature: int,
                 max_depth: int = 0) -> None:
        self.arrays = arrays
        self.sigmoid = sigmoid
        self.num_feature = num_feature
        self.max_depth = int(max_depth)
        self._args = tuple(arrays[k] for k in self._WALK)
        self._packed = pack_nodes(arrays)
        self._scratch = np.empty(len(arrays["roots"]))
        self._shap_args: tuple[Any, ...] | None = None
        self._plan: Any = None
        if all(k in arrays for k in self._SHAP):
            fractions = _edge_fractions(arrays)
            if fractions is None:  # what tree SHAP's division by the parent's rows raised
                raise ZeroDivisionError("a tree node has no training rows: no tree SHAP")
            self._shap_args = (*self._args, *fractions, arrays["expected"], self.max_depth,
                               *_quadrature(arrays["tree_unique"]))
            from cardmind.models.treeshap import ShapPlan

            # the planned kernel (~4x faster); None for paths of more than 16 distinct features
            self._plan = ShapPlan.from_arrays(arrays)
        self.predict_one(np.zeros(num_feature))  # compile (or load from the numba cache) now
        if self._shap_args is not None:
            self.contributions_one(np.zeros(num_feature))

    @classmethod
    def from_booster(cls, booster: Any) -> CompiledForest:
        dump = booster.dump_model()
        obj = str(dump.get("objective", ""))
        if not obj.startswith("binary"):
            raise InvalidInput(f"compiled predictor supports binary models, not {obj!r}")
        sigmoid = 1.0
        for part in obj.split():
            if part.startswith("sigmoid:"):
                sigmoid = float(part.split(":")[1])
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        default_left: list[bool] = []
        missing: list[int] = []
        node_count: list[int] = []
        leaf_value: list[float] = []
        leaf_count: list[int] = []
        roots: list[int] = []
        expected: list[float] = []
        max_depth = unique = 0

        def add(node: dict[str, Any], depth: int, leaves: list[tuple[int, float, int]],
                path: tuple[int, ...] = ()) -> int:
            nonlocal max_depth, unique
            max_depth = max(max_depth, depth)
            if "leaf_value" in node or "split_index" not in node:
                unique = max(unique, len(set(path)))
                value = float(node.get("leaf_value", 0.0))
                count = int(node.get("leaf_count", 0))
                leaf_value.append(value)
                leaf_count.append(count)
                leaves.append((int(node.get("leaf_index", 0)), value, count))
                return ~(len(leaf_value) - 1)
            if node.get("decision_type", "<=") != "<=":
                raise InvalidInput("compiled predictor supports numerical splits only")
            i = len(feature)
            feature.append(int(node["split_feature"]))
            threshold.append(float(node["threshold"]))
            default_left.append(bool(node.get("default_left", True)))
            missing.append(_MISSING.get(str(node.get("missing_type", "None")), 0))
            node_count.append(int(node.get("internal_count", 0)))
            left.append(0)
            right.append(0)
            path = (*path, feature[i])
            left[i] = add(node["left_child"], depth + 1, leaves, path)
            right[i] = add(node["right_child"], depth + 1, leaves, path)
            return i

        tree_unique: list[int] = []
        for tree in dump["tree_info"]:
            leaves: list[tuple[int, float, int]] = []
            unique = 0
            root = add(tree["tree_structure"], 0, leaves)
            tree_unique.append(unique)
            roots.append(root)
            expected.append(_expected_value(root, leaves, node_count))
        arrays = {
            "roots": np.array(roots, np.int64),
            "feature": np.array(feature, np.int64),
            "threshold": np.array(threshold, np.float64),
            "left": np.array(left, np.int64),
            "right": np.array(right, np.int64),
            "default_left": np.array(default_left, np.bool_),
            "missing": np.array(missing, np.int8),
            "leaf_value": np.array(leaf_value, np.float64),
            "node_count": np.array(node_count, np.int64),
            "leaf_count": np.array(leaf_count, np.int64),
            "expected": np.array(expected, np.float64),
            "tree_unique": np.array(tree_unique, np.int64),
        }
        return cls(arrays, sigmoid=sigmoid, num_feature=int(dump.get("max_feature_idx", 0)) + 1,
                   max_depth=max_depth)

    def raw_one(self, x: np.ndarray) -> float:
        """Raw score (log-odds) of one row (1-D float64 array in feature order)."""
        return float(_walk_packed(x, *self._packed, self._scratch))

    def predict_one(self, x: np.ndarray) -> float:
        """Probability for one row (1-D float64 array in feature order)."""
        return 1.0 / (1.0 + math.exp(-self.sigmoid * _walk_packed(x, *self._packed,
                                                                   self._scratch)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probabilities for a 2-D float64 matrix."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-self.sigmoid * _walk_many(X, *self._args)))

    @property
    def explains(self) -> bool:
        """True when the node counts needed by tree SHAP were in the model."""
        return self._shap_args is not None

    def contributions_one(self, x: np.ndarray) -> np.ndarray:
        """Tree SHAP values of one row (1-D float64 array), length ``num_feature + 1``."""
        if self._shap_args is None:
            raise InvalidInput("this compiled model has no node counts: no tree SHAP")
        phi = np.zeros(self.num_feature + 1)
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.num_feature,):  # the kernels read x without bounds checks
            raise InvalidInput(f"a row of {self.num_feature} values is needed, got shape {x.shape}")
        if self._plan is not None:
            self._plan.add_to(x, phi)
        else:
            _shap(x, phi, *self._shap_args)
        return phi

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Tree SHAP values of a 2-D matrix, shape ``(n, num_feature + 1)``, as LightGBM's
        ``predict(X, pred_contrib=True)``."""
        if self._shap_args is None:
            raise InvalidInput("this compiled model has no node counts: no tree SHAP")
        X = np.ascontiguousarray(np.atleast_2d(X), dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.num_feature:
            raise InvalidInput(f"rows of {self.num_feature} values are needed, got shape {X.shape}")
        if self._plan is not None:
            out = np.zeros((X.shape[0], X.shape[1] + 1))
            self._plan.add_many(X, out)
            return out
        return _shap_many(X, *self._shap_args)


def _edge_fractions(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per child node and per leaf, its training rows over its parent's (the zero fraction of
    the edge into it), as :func:`_shap` used to divide on every call; None when a parent has no
    rows (a model without node counts).

    >>> arrays = {"node_count": np.array([8, 6]), "leaf_count": np.array([2, 3, 3]),
    ...           "left": np.array([-1, -2]), "right": np.array([1, -3])}
    >>> node, leaf = _edge_fractions(arrays)
    >>> node.tolist(), leaf.tolist()
    ([0.0, 0.75], [0.25, 0.5, 0.5])
    """
    counts, leaf_counts = arrays["node_count"], arrays["leaf_count"]
    parent = counts.astype(np.float64)
    if np.any(parent == 0.0):
        return None
    frac_node = np.zeros(len(counts))
    frac_leaf = np.zeros(len(leaf_counts))
    for child in (arrays["left"], arrays["right"]):
        inner = child >= 0
        frac_node[child[inner]] = counts[child[inner]] / parent[inner]
        frac_leaf[~child[~inner]] = leaf_counts[~child[~inner]] / parent[~inner]
    return frac_node, frac_leaf


def _quadrature(tree_unique: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tree, the number of Gauss-Legendre nodes that integrates its SHAP polynomials exactly
    (degree < the most distinct features on one of its paths), and tables of nodes and weights
    on [0, 1] by count (row n: n nodes, then zeros).

    >>> n, t, w = _quadrature(np.array([6, 1]))
    >>> n.tolist(), round(float(np.sum(w[3] * t[3] ** 5)), 15) == round(1 / 6, 15)
    ([3, 1], True)
    """
    n = np.maximum(1, (np.asarray(tree_unique, np.int64) + 1) // 2)
    top = int(n.max()) if n.size else 1
    t_table = np.zeros((top + 1, top))
    w_table = np.zeros((top + 1, top))
    for k in range(1, top + 1):
        nodes, weights = np.polynomial.legendre.leggauss(k)
        t_table[k, :k] = (nodes + 1.0) / 2.0
        w_table[k, :k] = weights / 2.0
    return n, t_table, w_table


def _expected_value(root: int, leaves: list[tuple[int, float, int]],
                    node_count: list[int]) -> float:
    """A tree's mean output weighted by training rows, summed in LightGBM's leaf order."""
    if root < 0:  # a single leaf
        return leaves[0][1]
    total = float(node_count[root])
    out = 0.0
    for _, value, count in sorted(leaves):
        out += (count / total) * value
    return out
