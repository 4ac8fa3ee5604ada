"""Planned tree SHAP: exact path-dependent SHAP values of one row in ~1/5 of the general kernel's time.

The same quantity as :func:`cardmind.models.compiled._shap` (LightGBM's ``pred_contrib``): for
a leaf with value v whose path has zero fractions z_j and one fractions o_j, feature i gets
``v (o_i - z_i) * integral_0^1 prod_{j != i} (z_j (1 - t) + o_j t) dt``, integrated exactly by
Gauss-Legendre quadrature. What changes is how the work is laid out (ADR 0022):

- **a plan, built once per model**: the internal nodes of every tree in depth-first order, one
  record each, with everything that does not depend on the row: its parent, its split, the zero
  fraction of the edge into it (merged over earlier splits on the same feature), the node whose
  incoming edge is the nearest earlier split on the same feature, and its leaf children folded
  into three numbers. Only the one fractions (which child the row goes to) are left to the call;
- **two straight passes per tree** instead of a walk with a stack: each node has its own slot,
  so the products along the paths are computed parents first and the sums over the leaves
  children first (reverse depth-first order), with no branch on the tree's shape; the row's
  decisions are arithmetic, not branches (mispredicted branches were a third of the time);
- **one quadrature for the whole model**, on ``W = 8`` points (paths with at most 16 distinct
  features; a model with longer ones uses the general kernel): the per-edge terms are vectors
  of 8 float64 added into one vector per feature, reduced with the quadrature weights once at
  the end instead of once per edge;
- **the vector steps are numba intrinsics** (three fused 8-wide operations on rows of one
  work array): numba's loops over the 8 points stayed scalar, because LLVM cannot prove that two
  rows of the work array do not overlap;
- **a leaf costs nothing of its own**: its share of the edge above and of the sums carried up
  are folded into its parent's record (``A = sum v z``, the leaf values), and a second split on a
  feature subtracts its subtree's sum from the earlier edge at once (the credit is linear)
  instead of keeping a second set of sums.

>>> import lightgbm as lgb, numpy as np
>>> rng = np.random.default_rng(1)
>>> X = rng.normal(size=(400, 4)); X[::7, 2] = np.nan
>>> b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15},
...               lgb.Dataset(X, X[:, 0] + X[:, 1] > 0.5), num_boost_round=10)
>>> from cardmind.models.compiled import CompiledForest
>>> plan = ShapPlan.from_arrays(CompiledForest.from_booster(b).arrays)
>>> phi = np.zeros(5)
>>> plan.add_to(X[0], phi)
>>> bool(np.allclose(phi, b.predict(X[:1], pred_contrib=True)[0], rtol=0, atol=1e-12))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from cardmind.models.compiled import _K_ZERO, _edge_fractions

#: Quadrature points carried per edge (one 512-bit vector of float64).
W = 8
_VEC = ir.VectorType(ir.DoubleType(), W)

# Record columns of the plan (one row per internal node, depth-first).
_I_PARENT, _I_FEATURE, _I_SIDE, _I_UP_IN, _I_UP, _I_F_IN, _I_SPLIT = range(7)
_F_THRESHOLD, _F_Z_IN, _F_A, _F_V0, _F_V1 = range(5)


def _row(context: Any, builder: Any, arrty: Any, arr: Any, offset: Any) -> Any:
    """Pointer to the 8 float64 at element ``offset`` of a 1-D array, as a vector pointer."""
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [offset]), _VEC.as_pointer())


def _load(context: Any, builder: Any, arrty: Any, arr: Any, offset: Any) -> Any:
    return builder.load(_row(context, builder, arrty, arr, offset), align=8)


def _splat(builder: Any, s: Any) -> Any:
    v = builder.insert_element(ir.Constant(_VEC, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, ir.Constant(_VEC, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), W), [0] * W))


@intrinsic
def _v_push(typingctx, wk, q, q_parent, r, r_up, z, o, omt, t):  # pragma: no cover - codegen
    """``P = z * wk[omt] + o * wk[t]; wk[q] = wk[q_parent] * P * wk[r_up]; wk[r] = 1 / P``
    (rows of 8 starting at the given element offsets)."""
    i8, f8 = types.int64, types.float64
    sig = types.void(wk, i8, i8, i8, i8, f8, f8, i8, i8)

    def codegen(context, builder, signature, args):
        w, q_, qp_, r_, rup_, z_, o_, omt_, t_ = args
        a = signature.args[0]
        p = builder.fadd(builder.fmul(_splat(builder, z_), _load(context, builder, a, w, omt_)),
                         builder.fmul(_splat(builder, o_), _load(context, builder, a, w, t_)))
        qv = builder.fmul(builder.fmul(_load(context, builder, a, w, qp_), p),
                          _load(context, builder, a, w, rup_))
        rv = builder.fdiv(ir.Constant(_VEC, [1.0] * W), p)
        builder.store(qv, _row(context, builder, a, w, q_), align=8)
        builder.store(rv, _row(context, builder, a, w, r_), align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _v_leaves(typingctx, wk, q, r_up, phi, c, s, A, B, omt, t):  # pragma: no cover - codegen
    """``u = wk[q] * wk[r_up]; wk[phi] += c * u; wk[s] = u * (A * wk[omt] + B * wk[t])``."""
    i8, f8 = types.int64, types.float64
    sig = types.void(wk, i8, i8, i8, f8, i8, f8, f8, i8, i8)

    def codegen(context, builder, signature, args):
        w, q_, rup_, phi_, c_, s_, A_, B_, omt_, t_ = args
        a = signature.args[0]
        u = builder.fmul(_load(context, builder, a, w, q_), _load(context, builder, a, w, rup_))
        pp = _row(context, builder, a, w, phi_)
        builder.store(builder.fadd(builder.load(pp, align=8), builder.fmul(_splat(builder, c_), u)),
                      pp, align=8)
        lin = builder.fadd(builder.fmul(_splat(builder, A_), _load(context, builder, a, w, omt_)),
                           builder.fmul(_splat(builder, B_), _load(context, builder, a, w, t_)))
        builder.store(builder.fmul(u, lin), _row(context, builder, a, w, s_), align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _v_finish(typingctx, wk, s, s_parent, pa, ga, ra, pb, gb, rb):  # pragma: no cover - codegen
    """``v = wk[s]; wk[pa] += ga * wk[ra] * v; wk[pb] += gb * wk[rb] * v; wk[s_parent] += v``
    (``pa`` and ``pb`` may be the same row: the second update reads the first's result)."""
    i8, f8 = types.int64, types.float64
    sig = types.void(wk, i8, i8, i8, f8, i8, i8, f8, i8)

    def codegen(context, builder, signature, args):
        w, s_, sp_, pa_, ga_, ra_, pb_, gb_, rb_ = args
        a = signature.args[0]
        v = _load(context, builder, a, w, s_)
        for p_, g_, r_ in ((pa_, ga_, ra_), (pb_, gb_, rb_)):
            pp = _row(context, builder, a, w, p_)
            term = builder.fmul(builder.fmul(_splat(builder, g_), _load(context, builder, a, w, r_)),
                                v)
            builder.store(builder.fadd(builder.load(pp, align=8), term), pp, align=8)
        ps = _row(context, builder, a, w, sp_)
        builder.store(builder.fadd(builder.load(ps, align=8), v), ps, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)  # keeps the GIL, as the other one-row kernels (compiled.py)
def _shap_planned(x, phi, starts, expected, ints, flts, t, tw, slots):  # pragma: no cover
    """Add the tree SHAP values of row ``x`` to ``phi`` (last element: the expected value).

    Per tree, two passes over its internal nodes, each node with its own slot: in depth-first
    order (a parent before its children) Q = the product of the path's factors
    P = z (1 - t) + o t, R = 1 / P of the edge into the node, the row's child, and the leaf
    children's share; then in the reverse order (children before their parent) the credit of
    the edge into each node from S, the sum of v Q over the leaves below, which is handed to
    the parent. Neither pass branches on the tree's shape or on the row's path. Work rows (8
    float64 each) of one array: 0 ``1 - t``, 1 ``t``, 2 ones, then Q, S and R per slot, then
    one accumulator per feature. Slot ``slots`` is the "no earlier split on this feature"
    sentinel (o = 1, gain 0, R = ones).
    """
    nf = phi.shape[0] - 1
    QB = 3
    SB = QB + slots
    RB = SB + slots
    FB = RB + slots + 1
    raw = np.zeros((FB + nf + 1) * W)
    a0 = (-(raw.ctypes.data // 8)) % W  # rows on 64-byte boundaries
    wk = raw[a0:a0 + (FB + nf) * W]
    for m in range(W):
        wk[m] = 1.0 - t[m]
        wk[W + m] = t[m]
        wk[(RB + slots) * W + m] = 1.0
        wk[QB * W + m] = 1.0  # the root's Q
    o_at = np.empty(slots + 1)  # one fraction of the edge into a node
    gain = np.empty(slots + 1)  # o - z of that edge
    hot = np.empty(slots, np.int64)  # the child the row goes to
    o_at[slots] = 1.0
    gain[slots] = 0.0
    base = 0.0
    for tree in range(starts.shape[0] - 1):
        base += expected[tree]
        s0 = starts[tree]
        n = starts[tree + 1] - s0
        for j in range(n):  # parents first
            k = s0 + j
            if j > 0:
                p = ints[k, _I_PARENT]
                up = ints[k, _I_UP_IN]
                o = o_at[up] * (ints[k, _I_SIDE] == hot[p])
                z = flts[k, _F_Z_IN]
                _v_push(wk, (QB + j) * W, (QB + p) * W, (RB + j) * W, (RB + up) * W, z, o,
                        0, W)
                o_at[j] = o
                gain[j] = o - z
            split = ints[k, _I_SPLIT]
            mt = split & 3
            v = x[ints[k, _I_FEATURE]]
            nan = np.isnan(v)
            if nan and mt != 2:
                v = 0.0
            h = 1 - np.int64(v <= flts[k, _F_THRESHOLD])  # no branch on the row's value
            if (mt == 1 and -_K_ZERO <= v <= _K_ZERO) or (mt == 2 and nan):
                h = 1 - ((split >> 2) & 1)
            hot[j] = h
            # the leaf children: v (o - z) Q / P_up to f, v Q P / P_up to S (A = sum v z)
            up = ints[k, _I_UP]
            B = o_at[up] * flts[k, _F_V0 + h]
            A = flts[k, _F_A]
            _v_leaves(wk, (QB + j) * W, (RB + up) * W, (FB + ints[k, _I_FEATURE]) * W, B - A,
                      (SB + j) * W, A, B, 0, W)
        for j in range(n - 1, 0, -1):  # children first: credit the edge into the node
            k = s0 + j
            up = ints[k, _I_UP]
            _v_finish(wk, (SB + j) * W, (SB + ints[k, _I_PARENT]) * W,
                      (FB + ints[k, _I_F_IN]) * W, gain[j], (RB + j) * W,
                      (FB + ints[k, _I_FEATURE]) * W, -gain[up], (RB + up) * W)
    for f in range(nf):
        total = 0.0
        for m in range(W):
            total += tw[m] * wk[(FB + f) * W + m]
        phi[f] += total
    phi[nf] += base


@njit(cache=True, nogil=True)
def _shap_planned_many(X, out, starts, expected, ints, flts, t, tw, slots):  # pragma: no cover
    for i in range(X.shape[0]):
        _shap_planned(X[i], out[i], starts, expected, ints, flts, t, tw, slots)


class ShapPlan:
    """The row-independent part of tree SHAP for one model (see the module docstring).

    ``from_arrays`` returns None when a path has more than ``2 W`` distinct features (more
    quadrature points than one vector holds) or a node has no training rows.
    """

    def __init__(self, starts: np.ndarray, expected: np.ndarray, ints: np.ndarray,
                 flts: np.ndarray, t: np.ndarray, tw: np.ndarray, slots: int) -> None:
        self.args = (starts, expected, ints, flts, t, tw, int(slots))

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ShapPlan | None:
        """The plan of a :class:`~cardmind.models.compiled.CompiledForest`'s arrays."""
        fractions = _edge_fractions(arrays)
        if fractions is None:
            return None
        frac_node, frac_leaf = fractions
        unique = arrays["tree_unique"]
        n = max(1, (int(unique.max()) + 1) // 2) if len(unique) else 1
        if n > W:
            return None
        nodes, weights = np.polynomial.legendre.leggauss(n)
        t = np.full(W, 0.5)  # unused points: weight 0, any factor that is not zero
        tw = np.zeros(W)
        t[:n] = (nodes + 1.0) / 2.0
        tw[:n] = weights / 2.0
        feature, left, right = arrays["feature"], arrays["left"], arrays["right"]
        threshold, missing = arrays["threshold"], arrays["missing"]
        default_left, leaf_value = arrays["default_left"], arrays["leaf_value"]
        ints: list[tuple[int, ...]] = []
        flts: list[tuple[float, ...]] = []
        starts = [0]
        slots = 1
        for root in arrays["roots"]:
            order: list[tuple[int, int, int]] = []  # (node, parent's slot, side), depth first
            todo = [(int(root), -1, 0)] if root >= 0 else []
            while todo:
                node, parent, side = todo.pop()
                order.append((node, parent, side))
                for s, child in ((1, int(right[node])), (0, int(left[node]))):
                    if child >= 0:  # the left child is visited next
                        todo.append((child, len(order) - 1, s))
            # per slot, the path into the node: {feature: (merged z, slot of its latest edge)}
            paths: list[dict[int, tuple[float, int]]] = []
            for me, (node, parent, side) in enumerate(order):
                f_in, z_in, up_in, path = -1, 1.0, -1, {}
                if parent >= 0:
                    f_in = int(feature[order[parent][0]])
                    z_before, up_in = paths[parent].get(f_in, (1.0, -1))
                    z_in = z_before * frac_node[node]
                    path = {**paths[parent], f_in: (z_in, me)}
                paths.append(path)
                f = int(feature[node])
                z_f, up = path.get(f, (1.0, -1))
                A = 0.0
                vals = [0.0, 0.0]
                for s, child in ((0, int(left[node])), (1, int(right[node]))):
                    if child < 0:
                        vals[s] = float(leaf_value[~child])
                        A += vals[s] * (z_f * frac_leaf[~child])
                split = int(missing[node]) | int(bool(default_left[node])) << 2
                ints.append((parent, f, side, up_in, up, f_in, split))
                flts.append((float(threshold[node]), z_in, A, vals[0], vals[1]))
            starts.append(len(ints))
            slots = max(slots, len(order))
        int_arr = np.array(ints, np.int64).reshape(-1, 7)
        for col in (_I_UP_IN, _I_UP):  # "no earlier split on the feature": the sentinel slot
            int_arr[int_arr[:, col] < 0, col] = slots
        return cls(np.array(starts, np.int64), np.asarray(arrays["expected"], np.float64),
                   int_arr, np.array(flts, np.float64).reshape(-1, 5), t, tw, slots)

    def add_to(self, x: np.ndarray, phi: np.ndarray) -> None:
        """Add the SHAP values of row ``x`` (1-D float64) to ``phi`` (last: expected value)."""
        _shap_planned(x, phi, *self.args)

    def add_many(self, X: np.ndarray, out: np.ndarray) -> None:
        """Add the SHAP values of each row of ``X`` (2-D float64) to the rows of ``out``."""
        _shap_planned_many(X, out, *self.args)
