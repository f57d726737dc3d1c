"""The Merkle tree of an alliance's log, as RFC 9162 (Certificate Transparency 2.0), section 2.1, defines it.

Pure functions, no I/O: the tree's node hashes come in through a lookup (`Nodes`), so the same code
builds proofs over the stored nodes (`events/log.py`) and recomputes roots in a verifier.

A node is named by its level (0 for leaves) and its index within the level: node (l, i) is the hash
of the leaves [i * 2^l, (i + 1) * 2^l). Only such complete, aligned subtrees are ever stored; any other
range a proof needs (the right edge of a tree whose size is not a power of two) is folded from them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ConsistencyError",
    "Frontier",
    "InclusionError",
    "Node",
    "Nodes",
    "consistency_nodes",
    "consistency_proof",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

Node = tuple[int, int]
"""(level, index) of a complete, aligned subtree."""

Nodes = Callable[[Node], bytes]
"""The hash of a stored node."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree (RFC 9162: the hash of the empty string)."""


def leaf_hash(leaf_data: bytes) -> bytes:
    """SHA-256(0x00 || leaf data)."""
    return hashlib.sha256(b"\x00" + leaf_data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _pieces(start: int, end: int) -> list[Node]:
    """The complete, aligned subtrees that make up the leaves [start, end), largest first: the subtrees
    that RFC 9162's split of MTH(D[start:end]) ends in."""
    pieces: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):  # never needed for the ranges RFC 9162's recursion produces
            level -= 1
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


def _range_hash(start: int, end: int, nodes: Nodes) -> bytes:
    """MTH(D[start:end]) from stored nodes: the pieces folded from the right."""
    pieces = [nodes(piece) for piece in _pieces(start, end)]
    root = pieces[-1]
    for piece in reversed(pieces[:-1]):
        root = node_hash(piece, root)
    return root


def root(size: int, nodes: Nodes) -> bytes:
    """MTH(D[size]) from stored nodes (the empty tree's root for size 0)."""
    return _range_hash(0, size, nodes) if size else EMPTY_ROOT


def _path(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """RFC 9162 PATH(index, D[start:end]) as the leaf ranges whose hashes it lists, leaf upwards."""
    if end - start <= 1:
        return []
    k = _split(end - start)
    if index < start + k:
        return [*_path(index, start, start + k), (start + k, end)]
    return [*_path(index, start + k, end), (start, start + k)]


def _subproof(m: int, start: int, end: int, whole: bool) -> list[tuple[int, int]]:
    """RFC 9162 SUBPROOF(m, D[start:end], b) as leaf ranges."""
    if start + m == end:
        return [] if whole else [(start, end)]
    k = _split(end - start)
    if m <= k:
        return [*_subproof(m, start, start + k, whole), (start + k, end)]
    return [*_subproof(m - k, start + k, end, False), (start, start + k)]


def _needed(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    return [piece for start, end in ranges for piece in _pieces(start, end)]


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """The stored nodes that the inclusion proof of leaf `index` in a tree of `size` leaves reads."""
    _check_index(index, size)
    return _needed(_path(index, 0, size))


def inclusion_proof(index: int, size: int, nodes: Nodes) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]): the audit path of leaf `index`, leaf upwards."""
    _check_index(index, size)
    return [_range_hash(start, end, nodes) for start, end in _path(index, 0, size)]


def consistency_nodes(old: int, new: int) -> list[Node]:
    """The stored nodes that the consistency proof from `old` to `new` leaves reads."""
    _check_sizes(old, new)
    return _needed(_subproof(old, 0, new, True)) if 0 < old < new else []


def consistency_proof(old: int, new: int, nodes: Nodes) -> list[bytes]:
    """RFC 9162 PROOF(old, D[new]): empty when either tree is empty or they are the same size."""
    _check_sizes(old, new)
    if not 0 < old < new:
        return []
    return [_range_hash(start, end, nodes) for start, end in _subproof(old, 0, new, True)]


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")


def _check_sizes(old: int, new: int) -> None:
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from a tree of {old} leaves to one of {new}")


class InclusionError(ValueError):
    """An inclusion proof that does not prove what it claims."""


class ConsistencyError(ValueError):
    """A consistency proof that does not prove the newer tree extends the older one."""


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """RFC 9162, section 2.1.3.2: that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves
    whose root is `root`. Raises InclusionError, saying why, when it is not."""
    if not 0 <= index < size:
        raise InclusionError(f"leaf {index} cannot be in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise InclusionError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionError("the proof is shorter than the tree is deep")
    if r != root:
        raise InclusionError(f"the proof leads to root {r.hex()}, not to the checkpoint's {root.hex()}")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162, section 2.1.4.2: that the tree of `new` leaves with root `new_root` extends the tree of
    `old` leaves with root `old_root`. Raises ConsistencyError, saying why, when it does not."""
    if not 0 <= old <= new:
        raise ConsistencyError(f"a tree of {new} leaves cannot extend one of {old}")
    if old == new or old == 0:
        if proof:
            raise ConsistencyError("the proof should be empty")
        if old == 0 and old_root != EMPTY_ROOT:
            raise ConsistencyError(f"the empty tree's root is {EMPTY_ROOT.hex()}, not {old_root.hex()}")
        if old == new and old_root != new_root:
            raise ConsistencyError(f"two roots for one tree of {old} leaves: {old_root.hex()} and {new_root.hex()}")
        return
    path = list(proof)
    if old & (old - 1) == 0:  # an exact power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    if not path:
        raise ConsistencyError("the proof is empty")
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyError("the proof is shorter than the tree is deep")
    if fr != old_root:
        raise ConsistencyError(f"the proof does not lead to the older root {old_root.hex()}")
    if sr != new_root:
        raise ConsistencyError(f"the proof does not lead to the newer root {new_root.hex()}")


@dataclass
class Frontier:
    """The right edge of a tree: the roots of the complete subtrees that make up its leaves, largest first
    (one per set bit of the size). Enough to append leaves and to compute the root; `append` returns
    every node it completes, for storing."""

    size: int = 0
    edge: list[tuple[Node, bytes]] = field(default_factory=list)

    @staticmethod
    def nodes_of(size: int) -> list[Node]:
        """The nodes a tree of `size` leaves keeps on its edge, largest first."""
        return [(level, (size >> level) - 1) for level in reversed(range(size.bit_length())) if size >> level & 1]

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        made: list[tuple[Node, bytes]] = [((0, self.size), leaf)]
        self.edge.append(made[0])
        while len(self.edge) > 1 and self.edge[-1][0][0] == self.edge[-2][0][0]:
            (level, index), right = self.edge.pop()
            _, left = self.edge.pop()
            node = ((level + 1, index >> 1), node_hash(left, right))
            self.edge.append(node)
            made.append(node)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.edge:
            return EMPTY_ROOT
        root = self.edge[-1][1]
        for _, left in reversed(self.edge[:-1]):
            root = node_hash(left, root)
        return root
