"""The log's Merkle tree is RFC 9162's, and its proofs verify exactly when they should.

events/merkle.py builds roots and proofs from the stored complete subtrees (the nodes `Frontier.append`
returns) rather than from the leaves, and verifies proofs with RFC 9162's iterative algorithms. These
tests hold both against a reference: the definition of MTH in RFC 9162, section 2.1.1, written out
recursively over the leaves, and a known three-leaf tree. Every wrong proof (another leaf, one changed
byte, one element too few or too many, another root, another tree) is refused with the module's own
error, saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.merkle import (
    ConsistencyError,
    Frontier,
    InclusionError,
    Node,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

MAX = 70
"""The largest tree the reference is compared with."""
PROVEN = 40
"""The largest tree whose every inclusion and consistency proof is checked."""


def datum(i: int) -> bytes:
    """The data of leaf i of the test trees."""
    return f"leaf {i}".encode()


def mth(data: list[bytes]) -> bytes:
    """RFC 9162, section 2.1.1, as written: the reference every root here is held to."""
    n = len(data)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(data[:k]) + mth(data[k:])).digest()


@cache
def reference_root(size: int) -> bytes:
    return mth([datum(i) for i in range(size)])


def grown(size: int) -> tuple[Frontier, dict[Node, bytes], list[bytes]]:
    """A frontier of `size` leaves, every node its appends returned, and each size's root on the way."""
    frontier, stored, roots = Frontier(), {}, [Frontier().root()]
    for i in range(size):
        for node, digest in frontier.append(leaf_hash(datum(i))):
            assert node not in stored, f"{node} made twice"
            stored[node] = digest
        roots.append(frontier.root())
    return frontier, stored, roots


FRONTIER, STORED, ROOTS = grown(MAX)
"""The tree of MAX leaves every test reads: the stored nodes of a tree of n <= MAX leaves are among them."""


def nodes(node: Node) -> bytes:
    return STORED[node]


def recording() -> tuple[list[Node], Callable[[Node], bytes]]:
    """A lookup of the stored nodes that lists the nodes it was asked for."""
    read: list[Node] = []

    def lookup(node: Node) -> bytes:
        read.append(node)
        return STORED[node]

    return read, lookup


def flipped(digest: bytes, at: int = 0) -> bytes:
    return digest[:at] + bytes([digest[at] ^ 0x01]) + digest[at + 1 :]


class TestTheRootIsRfc9162s:
    """The root, from the frontier or from the stored nodes, is MTH over the leaves, for every size."""

    def test_the_reference_is_the_rfc_definition_for_the_smallest_trees(self) -> None:
        a, b, c = (hashlib.sha256(b"\x00" + x).digest() for x in (b"a", b"b", b"c"))
        assert mth([]) == hashlib.sha256(b"").digest()
        assert mth([b"a"]) == a
        assert mth([b"a", b"b", b"c"]) == hashlib.sha256(b"\x01" + hashlib.sha256(b"\x01" + a + b).digest() + c).digest()

    def test_leaf_and_node_hashes_are_domain_separated(self) -> None:
        assert leaf_hash(b"a") == hashlib.sha256(b"\x00a").digest()
        assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
        assert leaf_hash(b"\x01" + b"l" * 32 + b"r" * 32) != node_hash(b"l" * 32, b"r" * 32)

    @pytest.mark.parametrize("size", range(MAX + 1))
    def test_the_frontiers_root_is_the_reference_root(self, size: int) -> None:
        assert ROOTS[size] == reference_root(size)

    @pytest.mark.parametrize("size", range(MAX + 1))
    def test_the_root_from_stored_nodes_is_the_reference_root(self, size: int) -> None:
        assert root(size, nodes) == reference_root(size)

    def test_a_frontier_counts_its_leaves_and_keeps_only_its_edge(self) -> None:
        assert FRONTIER.size == MAX
        assert [node for node, _ in FRONTIER.edge] == [(6, 0), (2, 16), (1, 34)]  # 70 = 64 + 4 + 2
        assert all(STORED[node] == digest for node, digest in FRONTIER.edge)

    def test_append_returns_the_leaf_then_each_node_it_completes(self) -> None:
        frontier = Frontier()
        for i in range(7):
            frontier.append(leaf_hash(datum(i)))
        made = frontier.append(leaf_hash(datum(7)))  # the eighth leaf completes (1, 3), (2, 1) and (3, 0)
        assert [node for node, _ in made] == [(0, 7), (1, 3), (2, 1), (3, 0)]
        assert made[-1][1] == reference_root(8)

    def test_every_stored_node_is_the_root_of_its_aligned_subtree(self) -> None:
        for (level, index), digest in STORED.items():
            first = index << level
            assert digest == mth([datum(i) for i in range(first, first + (1 << level))]), (level, index)


class TestTheFrontiersNodes:
    """`Frontier.nodes_of(size)` names the nodes the frontier keeps after `size` appends, largest first."""

    @pytest.mark.parametrize("size", range(MAX + 1))
    def test_nodes_of_a_size_are_the_edge_after_that_many_appends(self, size: int) -> None:
        frontier = Frontier()
        for i in range(size):
            frontier.append(leaf_hash(datum(i)))
        assert Frontier.nodes_of(size) == [node for node, _ in frontier.edge]

    def test_nodes_of_a_size_are_one_per_set_bit(self) -> None:
        assert Frontier.nodes_of(0) == []
        assert Frontier.nodes_of(1) == [(0, 0)]
        assert Frontier.nodes_of(11) == [(3, 0), (1, 4), (0, 10)]  # 11 = 8 + 2 + 1


class TestTheKnownVector:
    """Leaves "a", "b", "c": the root, proofs and their verification match values computed elsewhere."""

    ROOT = bytes.fromhex("36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1")
    LEAF_C = bytes.fromhex("597fcb31282d34654c200d3418fca5705c648ebf326ec73d8ddef11841f876d8")

    @pytest.fixture
    def abc(self) -> dict[Node, bytes]:
        frontier, stored = Frontier(), {}
        for data in (b"a", b"b", b"c"):
            stored.update(frontier.append(leaf_hash(data)))
        assert frontier.root() == self.ROOT
        return stored

    def test_the_root(self, abc: dict[Node, bytes]) -> None:
        assert root(3, abc.__getitem__).hex() == self.ROOT.hex()
        assert mth([b"a", b"b", b"c"]) == self.ROOT
        assert leaf_hash(b"c") == self.LEAF_C

    def test_the_inclusion_proof_of_c_is_the_hash_of_a_and_b(self, abc: dict[Node, bytes]) -> None:
        proof = inclusion_proof(2, 3, abc.__getitem__)
        assert proof == [node_hash(leaf_hash(b"a"), leaf_hash(b"b"))]
        assert proof[0].hex().startswith("b137985f")
        assert inclusion_nodes(2, 3) == [(1, 0)]
        verify_inclusion(2, 3, self.LEAF_C, proof, self.ROOT)

    def test_the_inclusion_proof_of_a_is_b_then_c(self, abc: dict[Node, bytes]) -> None:
        assert inclusion_proof(0, 3, abc.__getitem__) == [leaf_hash(b"b"), self.LEAF_C]
        verify_inclusion(0, 3, leaf_hash(b"a"), [leaf_hash(b"b"), self.LEAF_C], self.ROOT)

    def test_the_consistency_proof_from_two_to_three_is_the_leaf_hash_of_c(self, abc: dict[Node, bytes]) -> None:
        proof = consistency_proof(2, 3, abc.__getitem__)
        assert [p.hex() for p in proof] == [self.LEAF_C.hex()]
        assert consistency_nodes(2, 3) == [(0, 2)]
        verify_consistency(2, 3, mth([b"a", b"b"]), self.ROOT, proof)


class TestEveryProofVerifies:
    """Every inclusion proof in every tree of up to PROVEN leaves verifies, and reads only stored nodes;
    every consistency proof between two such trees verifies against the reference roots."""

    @pytest.mark.parametrize("size", range(1, PROVEN + 1))
    def test_every_inclusion_proof_verifies_and_names_only_stored_nodes(self, size: int) -> None:
        for index in range(size):
            needed = inclusion_nodes(index, size)
            assert set(needed) <= STORED.keys(), (index, size, set(needed) - STORED.keys())
            assert all(level < size.bit_length() and (index_ + 1) << level <= size for level, index_ in needed)
            proof = inclusion_proof(index, size, nodes)
            verify_inclusion(index, size, leaf_hash(datum(index)), proof, reference_root(size))

    def test_inclusion_proofs_read_only_the_nodes_they_name(self) -> None:
        for size in range(1, PROVEN + 1):
            for index in range(size):
                read, lookup = recording()
                inclusion_proof(index, size, lookup)
                assert set(read) == set(inclusion_nodes(index, size)), (index, size)

    @pytest.mark.parametrize("new", range(PROVEN + 1))
    def test_every_consistency_proof_verifies(self, new: int) -> None:
        for old in range(new + 1):
            needed = consistency_nodes(old, new)
            assert set(needed) <= STORED.keys(), (old, new)
            proof = consistency_proof(old, new, nodes)
            assert (proof == []) == (not 0 < old < new), (old, new, len(proof))
            verify_consistency(old, new, reference_root(old), reference_root(new), proof)

    def test_consistency_proofs_read_only_the_nodes_they_name(self) -> None:
        for new in range(PROVEN + 1):
            for old in range(new + 1):
                read, lookup = recording()
                consistency_proof(old, new, lookup)
                assert set(read) == set(consistency_nodes(old, new)), (old, new)

    def test_a_proof_is_no_longer_than_the_tree_is_deep(self) -> None:
        for size in range(1, PROVEN + 1):
            depth = (size - 1).bit_length()
            assert all(len(inclusion_proof(i, size, nodes)) <= depth for i in range(size))
            assert all(len(consistency_proof(m, size, nodes)) <= depth + 1 for m in range(size + 1))

    @settings(max_examples=150, deadline=None)
    @given(st.integers(min_value=1, max_value=MAX).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
    def test_a_random_leaf_is_proven_in_its_tree_and_in_no_other_place(self, case: tuple[int, int]) -> None:
        size, index = case
        proof = inclusion_proof(index, size, nodes)
        verify_inclusion(index, size, leaf_hash(datum(index)), proof, reference_root(size))
        for other in {0, index - 1, index + 1, size - 1} - {index}:
            if 0 <= other < size:
                with pytest.raises(InclusionError, match=r"not to the checkpoint's|longer|shorter"):
                    verify_inclusion(other, size, leaf_hash(datum(index)), proof, reference_root(size))

    @settings(max_examples=150, deadline=None)
    @given(st.integers(min_value=0, max_value=MAX).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_a_random_pair_of_sizes_is_proven_consistent(self, sizes: tuple[int, int]) -> None:
        old, new = sizes
        proof = consistency_proof(old, new, nodes)
        verify_consistency(old, new, reference_root(old), reference_root(new), proof)
        if 0 < old < new:
            with pytest.raises(ConsistencyError, match="root"):
                verify_consistency(old, new, reference_root(old), flipped(reference_root(new), 31), proof)


class TestInclusionProofsThatDoNotHold:
    """A wrong inclusion proof is refused with InclusionError (a ValueError) that says why."""

    SIZES = [(0, 1), (0, 2), (1, 2), (2, 3), (4, 7), (0, 8), (5, 8), (12, 13), (20, 33), (32, 33), (39, 40)]

    def test_the_error_is_a_value_error(self) -> None:
        assert issubclass(InclusionError, ValueError)

    @pytest.mark.parametrize(("index", "size"), SIZES)
    def test_a_proof_for_a_different_leaf(self, index: int, size: int) -> None:
        proof = inclusion_proof(index, size, nodes)
        with pytest.raises(InclusionError, match=r"the proof leads to root [0-9a-f]{64}, not to the checkpoint's"):
            verify_inclusion(index, size, leaf_hash(datum(index + 100)), proof, reference_root(size))

    @pytest.mark.parametrize(("index", "size"), [s for s in SIZES if s[1] > 1])
    def test_a_flipped_byte_in_any_element(self, index: int, size: int) -> None:
        proof = inclusion_proof(index, size, nodes)
        assert proof
        for at, element in enumerate(proof):
            for byte in (0, 17, 31):
                bad = [*proof[:at], flipped(element, byte), *proof[at + 1 :]]
                with pytest.raises(InclusionError, match="not to the checkpoint's"):
                    verify_inclusion(index, size, leaf_hash(datum(index)), bad, reference_root(size))

    @pytest.mark.parametrize(("index", "size"), [s for s in SIZES if s[1] > 1])
    def test_a_proof_one_element_too_short(self, index: int, size: int) -> None:
        proof = inclusion_proof(index, size, nodes)
        with pytest.raises(InclusionError, match="shorter than the tree is deep"):
            verify_inclusion(index, size, leaf_hash(datum(index)), proof[:-1], reference_root(size))

    @pytest.mark.parametrize(("index", "size"), SIZES)
    def test_a_proof_one_element_too_long(self, index: int, size: int) -> None:
        proof = inclusion_proof(index, size, nodes)
        with pytest.raises(InclusionError, match="longer than the tree is deep"):
            verify_inclusion(index, size, leaf_hash(datum(index)), [*proof, reference_root(size)], reference_root(size))

    @pytest.mark.parametrize(("index", "size"), SIZES)
    def test_a_wrong_root(self, index: int, size: int) -> None:
        proof = inclusion_proof(index, size, nodes)
        for wrong in (reference_root(size + 1), flipped(reference_root(size), 5)):
            with pytest.raises(InclusionError, match=f"not to the checkpoint's {wrong.hex()}"):
                verify_inclusion(index, size, leaf_hash(datum(index)), proof, wrong)

    @pytest.mark.parametrize(("index", "size"), [(1, 1), (5, 5), (6, 5), (-1, 5), (0, 0)])
    def test_an_index_outside_the_tree(self, index: int, size: int) -> None:
        with pytest.raises(InclusionError, match=f"leaf {index} cannot be in a tree of {size} leaves"):
            verify_inclusion(index, size, leaf_hash(datum(0)), [], reference_root(max(size, 0)))

    @pytest.mark.parametrize(("index", "size"), [(1, 1), (5, 5), (-1, 5), (0, 0)])
    def test_no_proof_is_built_for_an_index_outside_the_tree(self, index: int, size: int) -> None:
        with pytest.raises(ValueError, match=f"leaf {index} is not in a tree of {size} leaves"):
            inclusion_proof(index, size, nodes)
        with pytest.raises(ValueError, match=f"leaf {index} is not in a tree of {size} leaves"):
            inclusion_nodes(index, size)

    def test_a_one_leaf_tree_needs_no_proof_but_its_leaf(self) -> None:
        assert inclusion_proof(0, 1, nodes) == []
        verify_inclusion(0, 1, leaf_hash(datum(0)), [], reference_root(1))
        with pytest.raises(InclusionError, match="not to the checkpoint's"):
            verify_inclusion(0, 1, leaf_hash(datum(1)), [], reference_root(1))


class TestConsistencyProofsThatDoNotHold:
    """A wrong consistency proof is refused with ConsistencyError (a ValueError) that says why."""

    PAIRS = [(1, 2), (1, 3), (2, 3), (3, 4), (3, 7), (4, 7), (4, 8), (5, 8), (6, 13), (8, 33), (13, 40), (32, 33), (39, 40)]

    def test_the_error_is_a_value_error(self) -> None:
        assert issubclass(ConsistencyError, ValueError)

    def test_an_empty_tree_has_only_the_empty_root(self) -> None:
        verify_consistency(0, 5, hashlib.sha256(b"").digest(), reference_root(5), [])
        with pytest.raises(ConsistencyError, match="the empty tree's root is"):
            verify_consistency(0, 5, reference_root(1), reference_root(5), [])

    @pytest.mark.parametrize(("old", "new"), PAIRS)
    def test_a_flipped_byte_in_any_element(self, old: int, new: int) -> None:
        proof = consistency_proof(old, new, nodes)
        assert proof
        for at, element in enumerate(proof):
            for byte in (0, 31):
                bad = [*proof[:at], flipped(element, byte), *proof[at + 1 :]]
                with pytest.raises(ConsistencyError, match=r"does not lead to the (older|newer) root"):
                    verify_consistency(old, new, reference_root(old), reference_root(new), bad)

    @pytest.mark.parametrize(("old", "new"), PAIRS)
    def test_a_proof_one_element_too_short(self, old: int, new: int) -> None:
        proof = consistency_proof(old, new, nodes)
        with pytest.raises(ConsistencyError, match=r"shorter than the tree is deep|the proof is empty"):
            verify_consistency(old, new, reference_root(old), reference_root(new), proof[:-1])

    @pytest.mark.parametrize(("old", "new"), PAIRS)
    def test_a_proof_one_element_too_long(self, old: int, new: int) -> None:
        proof = consistency_proof(old, new, nodes)
        with pytest.raises(ConsistencyError, match="longer than the tree is deep"):
            verify_consistency(old, new, reference_root(old), reference_root(new), [*proof, reference_root(new)])

    @pytest.mark.parametrize(("old", "new"), PAIRS)
    def test_a_wrong_new_root(self, old: int, new: int) -> None:
        proof = consistency_proof(old, new, nodes)
        wrong = reference_root(new - 1)
        with pytest.raises(ConsistencyError, match=f"does not lead to the newer root {wrong.hex()}"):
            verify_consistency(old, new, reference_root(old), wrong, proof)

    @pytest.mark.parametrize(("old", "new"), PAIRS)
    @pytest.mark.parametrize("changed", [0, -1])
    def test_an_old_root_of_a_different_tree(self, old: int, new: int, changed: int) -> None:
        """The old tree had one leaf (its first or its last) other than the new tree's. When the old size is
        a power of two its root is itself the proof's first node, so the path then misses the newer root."""
        data = [datum(i) for i in range(old)]
        data[changed] = b"rewritten"
        other = mth(data)
        proof = consistency_proof(old, new, nodes)
        says = f"newer root {reference_root(new).hex()}" if old & (old - 1) == 0 else f"older root {other.hex()}"
        with pytest.raises(ConsistencyError, match=f"the proof does not lead to the {says}"):
            verify_consistency(old, new, other, reference_root(new), proof)

    @pytest.mark.parametrize("size", [0, 1, 2, 5, 40])
    def test_equal_sizes_with_different_roots(self, size: int) -> None:
        other = flipped(reference_root(size))
        with pytest.raises(ConsistencyError, match=f"two roots for one tree of {size} leaves"):
            verify_consistency(size, size, reference_root(size), other, [])
        verify_consistency(size, size, reference_root(size), reference_root(size), [])

    @pytest.mark.parametrize(("old", "new"), [(0, 0), (0, 5), (5, 5)])
    def test_a_proof_where_none_is_due(self, old: int, new: int) -> None:
        with pytest.raises(ConsistencyError, match="the proof should be empty"):
            verify_consistency(old, new, reference_root(old), reference_root(new), [reference_root(1)])

    @pytest.mark.parametrize(("old", "new"), [(1, 0), (6, 5), (-1, 3)])
    def test_an_older_tree_larger_than_the_newer(self, old: int, new: int) -> None:
        with pytest.raises(ConsistencyError, match=f"a tree of {new} leaves cannot extend one of {old}"):
            verify_consistency(old, new, reference_root(max(old, 0)), reference_root(max(new, 0)), [])

    @pytest.mark.parametrize(("old", "new"), [(1, 0), (6, 5), (-1, 3)])
    def test_no_proof_is_built_for_sizes_out_of_order(self, old: int, new: int) -> None:
        says = f"no consistency proof from a tree of {old} leaves to one of {new}"
        with pytest.raises(ValueError, match=says):
            consistency_proof(old, new, nodes)
        with pytest.raises(ValueError, match=says):
            consistency_nodes(old, new)
