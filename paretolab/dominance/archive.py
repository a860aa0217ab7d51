"""An incremental Pareto archive: insert points one at a time, keep only the non-dominated ones.

For two objectives it is the classic sorted-front archive (points sorted by the first
objective, hence non-increasing in the second; a new point is dominated iff its predecessor
dominates it, and the points it dominates form one contiguous run after it -- see e.g.
Fieldsend, Everson & Singh 2003, "Using unconstrained elite archives for multiobjective
optimization", IEEE TEVC 7(3), and the 2-D case of Kung, Luccio & Preparata 1975).  The sorted
sequence is a list of blocks (a "sqrt-decomposition" sorted list, like ``sortedcontainers``)
so that ``bisect`` finds the position in O(log n) and inserting/deleting moves at most one block
of ~1,000 references instead of the whole list: amortised O(log n) per insertion even when
every point stays on the front.  For m != 2 the archive is a linear scan, vectorised with numpy
over a column-major buffer.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validate import as_points, direction_signs

_BLOCK = 1000  # split a block when it reaches 2 * _BLOCK points


@dataclass(slots=True)
class InsertResult:
    """Outcome of :meth:`ParetoArchive.insert`.

    ``entered``: the point is now in the archive.  ``evicted``: keys of the archived points it
    dominates and that were removed (in the archive's order), empty if it did not enter.
    """

    entered: bool
    evicted: list[Any] = field(default_factory=list)


class _SortedFront2D:
    """Mutually non-dominated 2-D points (minimisation), sorted by f1, stored in blocks.

    ``_xs[b]``, ``_ys[b]``, ``_ks[b]`` are block ``b``'s f1 values (non-decreasing), f2 values
    (non-increasing) and keys; ``_heads[b] == _xs[b][0]``.  Equal f1 implies equal f2 (they
    would otherwise dominate one another): such runs are duplicates.
    """

    __slots__ = ("_xs", "_ys", "_ks", "_heads", "_len")

    def __init__(self) -> None:
        self._xs: list[list[float]] = []
        self._ys: list[list[float]] = []
        self._ks: list[list[Any]] = []
        self._heads: list[float] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def load_sorted(self, xs: list[float], ys: list[float], keys: list[Any]) -> None:
        """Replace the contents by an already sorted, mutually non-dominated sequence."""
        self._xs = [xs[i : i + _BLOCK] for i in range(0, len(xs), _BLOCK)]
        self._ys = [ys[i : i + _BLOCK] for i in range(0, len(ys), _BLOCK)]
        self._ks = [keys[i : i + _BLOCK] for i in range(0, len(keys), _BLOCK)]
        self._heads = [b[0] for b in self._xs]
        self._len = len(xs)

    def arrays(self) -> tuple[list[float], list[float], list[Any]]:
        xs: list[float] = []
        ys: list[float] = []
        ks: list[Any] = []
        for bx, by, bk in zip(self._xs, self._ys, self._ks):
            xs += bx
            ys += by
            ks += bk
        return xs, ys, ks

    def insert(self, x: float, y: float, key: Any):
        """Insert ``(x, y)`` unless an archived point dominates it.

        Returns ``None`` if it was rejected, else ``(ev_x, ev_y, ev_k, left, right)``: the
        evicted points' coordinates and keys (sorted by f1) and the new point's neighbours
        ``(x, y)`` after insertion (``None`` at either end).  An exact copy of an archived
        point is inserted after its twin and evicts nothing.
        """
        heads, bxs, bys = self._heads, self._xs, self._ys
        if not heads:
            self._xs, self._ys, self._ks, self._heads = [[x]], [[y]], [[key]], [x]
            self._len = 1
            return [], [], [], None, None
        # Predecessor: the last point with f1 <= x; it has the least f2 among those points.
        b = bisect_right(heads, x) - 1
        if b >= 0:
            i = bisect_right(bxs[b], x) - 1
            py = bys[b][i]
            if py <= y:
                if py == y and bxs[b][i] == x:  # duplicate: keep it, right after its twin
                    right = self._after(b, i + 1)
                    self._insert_at(b, i + 1, x, y, key)
                    return [], [], [], (x, y), right
                return None
        # Not dominated.  Evict the run of points with f1 >= x and f2 >= y, which starts at
        # the first point with f1 >= x (points with f1 == x have f2 == py > y).
        b = bisect_left(heads, x) - 1
        if b < 0:
            b, i = 0, 0
        else:
            i = bisect_left(bxs[b], x)
            if i == len(bxs[b]) and b + 1 < len(heads):
                b, i = b + 1, 0
        ev_x: list[float] = []
        ev_y: list[float] = []
        ev_k: list[Any] = []
        bb = b
        while bb < len(bys):
            ys_b = bys[bb]
            start = i if bb == b else 0
            if start >= len(ys_b):  # insertion point is the very end
                break
            j = start
            if ys_b[-1] >= y:
                j = len(ys_b)
            else:
                while ys_b[j] >= y:
                    j += 1
            if j > start:
                ev_x += bxs[bb][start:j]
                ev_y += ys_b[start:j]
                ev_k += self._ks[bb][start:j]
            if j < len(ys_b):
                break
            bb += 1
        if ev_x:
            self._delete_run(b, i, len(ev_x))
            # The insertion point is unchanged unless block b vanished or was cut at i.
            if b >= len(self._xs):
                b, i = len(self._xs) - 1, len(self._xs[-1]) if self._xs else 0
            elif i > len(self._xs[b]):
                i = len(self._xs[b])
            if not self._xs:
                self._xs, self._ys, self._ks, self._heads = [[x]], [[y]], [[key]], [x]
                self._len = 1
                return ev_x, ev_y, ev_k, None, None
        left, right = self._before(b, i), self._after(b, i)
        self._insert_at(b, i, x, y, key)
        return ev_x, ev_y, ev_k, left, right

    def _before(self, b: int, i: int):
        if i > 0:
            return self._xs[b][i - 1], self._ys[b][i - 1]
        if b > 0:
            return self._xs[b - 1][-1], self._ys[b - 1][-1]
        return None

    def _after(self, b: int, i: int):
        """The point at position ``i`` of block ``b`` (or the next block's first), if any."""
        if i < len(self._xs[b]):
            return self._xs[b][i], self._ys[b][i]
        if b + 1 < len(self._xs):
            return self._xs[b + 1][0], self._ys[b + 1][0]
        return None

    def _insert_at(self, b: int, i: int, x: float, y: float, key: Any) -> None:
        bx, by, bk = self._xs[b], self._ys[b], self._ks[b]
        bx.insert(i, x)
        by.insert(i, y)
        bk.insert(i, key)
        if i == 0:
            self._heads[b] = x
        self._len += 1
        if len(bx) >= 2 * _BLOCK:
            self._xs[b + 1 : b + 1] = [bx[_BLOCK:]]
            self._ys[b + 1 : b + 1] = [by[_BLOCK:]]
            self._ks[b + 1 : b + 1] = [bk[_BLOCK:]]
            self._heads.insert(b + 1, bx[_BLOCK])
            del bx[_BLOCK:], by[_BLOCK:], bk[_BLOCK:]

    def _delete_run(self, b: int, i: int, count: int) -> None:
        """Delete ``count`` consecutive points starting at position ``i`` of block ``b``."""
        self._len -= count
        while count:
            bx = self._xs[b]
            j = min(len(bx), i + count)
            count -= j - i
            if i == 0 and j == len(bx):
                del self._xs[b], self._ys[b], self._ks[b], self._heads[b]
            else:
                del bx[i:j], self._ys[b][i:j], self._ks[b][i:j]
                if i == 0:
                    self._heads[b] = bx[0]
                b, i = b + 1, 0


class ParetoArchive:
    """The non-dominated subset of all points inserted so far, maintained incrementally.

    Only Pareto dominance is applied: constraint handling is the caller's business (insert
    feasible points only).  A point identical to an archived one enters as well (duplicates are
    kept), so the contents always equal ``values[nondominated_mask(values)]`` for the inserted
    ``values`` -- the two functions agree on ties.

    Two objectives: sorted-front archive, amortised O(log n) per insertion (module docstring);
    10^5 random insertions take well under a second.  Other m: O(n m) vectorised scan.

    ``points`` are in original units (``(len, m)`` array) and ``keys`` are aligned with them.
    Order: by the first objective, best first, for m == 2; insertion order otherwise.
    """

    def __init__(self, n_objectives: int, directions: Sequence[Any] | None = None) -> None:
        if int(n_objectives) != n_objectives or n_objectives < 1:
            raise ValueError(f"n_objectives must be a positive integer, got {n_objectives!r}")
        self._m = int(n_objectives)
        self._signs = direction_signs(directions, self._m)
        self._sign_list = [float(s) for s in self._signs]
        self._offered = 0  # number of points offered so far: the default key
        if self._m == 2:
            self._front: _SortedFront2D | None = _SortedFront2D()
        else:
            self._front = None
            self._cols = np.empty((self._m, 16))  # column-major: row j = objective j
            self._n = 0
            self._keys: list[Any] = []

    @property
    def n_objectives(self) -> int:
        return self._m

    def __len__(self) -> int:
        return len(self._front) if self._front is not None else self._n

    def __repr__(self) -> str:
        return f"ParetoArchive(n_objectives={self._m}, len={len(self)})"

    def _point(self, point: ArrayLike) -> list[float]:
        try:
            p = [float(c) for c in point]  # type: ignore[union-attr, arg-type]
        except TypeError:
            raise ValueError(f"point must be a sequence of {self._m} numbers, got {point!r}") from None
        if len(p) != self._m:
            raise ValueError(f"point has {len(p)} objectives, the archive has {self._m}")
        for j, c in enumerate(p):
            if c != c or c in (float("inf"), float("-inf")):
                raise ValueError(f"point must be finite, but objective {j} is {c!r}")
        return [c * s for c, s in zip(p, self._sign_list)]

    def insert(self, point: ArrayLike, key: Hashable | Any = None) -> InsertResult:
        """Offer one point (original units); ``key`` defaults to the number of points offered
        before it (0, 1, 2, ... counting ``from_points`` rows and rejected points)."""
        if self._front is not None:
            # Inlined 2-D fast path: this method is the hot loop of incremental use.
            try:
                x, y = point  # type: ignore[misc, str-unpack]
                x = float(x) * self._sign_list[0]  # type: ignore[arg-type]
                y = float(y) * self._sign_list[1]  # type: ignore[arg-type]
            except (TypeError, ValueError):
                self._point(point)  # raises the descriptive error
                raise
            if x - x != 0.0 or y - y != 0.0:  # NaN or +-inf
                self._point(point)
            if key is None:
                key = self._offered
            self._offered += 1
            res = self._front.insert(x, y, key)
            return InsertResult(False, []) if res is None else InsertResult(True, res[2])
        p = self._point(point)
        if key is None:
            key = self._offered
        self._offered += 1
        return self._insert_nd(np.array(p), key)

    def _insert_nd(self, p: np.ndarray, key: Any) -> InsertResult:
        n, m = self._n, self._m
        cols = self._cols[:, :n]
        if n:
            # Is p dominated?  a <= p everywhere and a < p somewhere.
            le = cols[0] <= p[0]
            lt = cols[0] < p[0]
            for j in range(1, m):
                le &= cols[j] <= p[j]
                lt |= cols[j] < p[j]
            if (le & lt).any():
                return InsertResult(False)
            ge = cols[0] >= p[0]
            gt = cols[0] > p[0]
            for j in range(1, m):
                ge &= cols[j] >= p[j]
                gt |= cols[j] > p[j]
            dominated = ge & gt
            evicted: list[Any] = []
            if dominated.any():
                keep = ~dominated
                evicted = [k for k, d in zip(self._keys, dominated.tolist()) if d]
                self._keys = [k for k, d in zip(self._keys, dominated.tolist()) if not d]
                n = len(self._keys)
                self._cols[:, :n] = cols[:, keep]
        else:
            evicted = []
        if n == self._cols.shape[1]:
            grown = np.empty((m, 2 * n))
            grown[:, :n] = self._cols[:, :n]
            self._cols = grown
        self._cols[:, n] = p
        self._keys.append(key)
        self._n = n + 1
        return InsertResult(True, evicted)

    @property
    def points(self) -> np.ndarray:
        """Archived points in original units, shape ``(len(self), n_objectives)``."""
        if self._front is not None:
            xs, ys, _ = self._front.arrays()
            pts = np.column_stack([np.array(xs, dtype=float), np.array(ys, dtype=float)])
            pts = pts.reshape(len(xs), 2)
        else:
            pts = self._cols[:, : self._n].T.copy()
        return pts * self._signs

    @property
    def keys(self) -> list[Any]:
        """Keys of the archived points, aligned with :attr:`points`."""
        if self._front is not None:
            return self._front.arrays()[2]
        return list(self._keys)

    @classmethod
    def from_points(
        cls,
        values: ArrayLike,
        directions: Sequence[Any] | None = None,
        keys: Sequence[Any] | None = None,
    ) -> ParetoArchive:
        """Build the archive of ``values`` in one go (e.g. when reloading a study from storage).

        Same contents as inserting the rows one by one, in O(n log n) via
        :func:`~paretolab.dominance.nondominated_mask`.  ``keys`` default to the row indices,
        and later :meth:`insert` calls without a key continue from ``len(values)``.
        """
        from .filtering import nondominated_mask

        if directions is not None and not isinstance(directions, str):
            directions = list(directions)
        n_hint = None if directions is None or isinstance(directions, str) else len(directions)
        arr = as_points(values, n_hint)
        n, m = arr.shape
        if m == 0:
            raise ValueError(
                "from_points needs the number of objectives: pass (n, m) values or directions"
            )
        if keys is None:
            keys = list(range(n))
        elif len(keys) != n:
            raise ValueError(f"got {len(keys)} keys for {n} points")
        archive = cls(m, directions)
        archive._offered = n
        if n == 0:
            return archive
        mins = arr * archive._signs
        idx = np.flatnonzero(nondominated_mask(mins))
        if archive._front is not None:
            idx = idx[np.lexsort((mins[idx, 1], mins[idx, 0]))]  # stable: twins keep row order
            archive._front.load_sorted(
                mins[idx, 0].tolist(), mins[idx, 1].tolist(), [keys[int(i)] for i in idx]
            )
        else:
            archive._cols = np.empty((m, max(16, 2 * len(idx))))
            archive._cols[:, : len(idx)] = mins[idx].T
            archive._n = len(idx)
            archive._keys = [keys[int(i)] for i in idx]
        return archive
