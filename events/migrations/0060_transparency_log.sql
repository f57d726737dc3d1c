-- The transparency log: one Merkle tree per alliance over every event of its streams (its own, its
-- decisions' and its disputes'), signed checkpoints of it, and its witnesses' cosignatures. docs/audit.md
-- specifies the tree, the checkpoints and the proofs; events/log.py keeps them.

-- How many leaves each alliance's log has. An append takes the next leaf indices from this row in its own
-- transaction (events/store.py): the row's lock orders the appends of one alliance, so the committed leaves
-- are always 0 .. size-1, without a gap, and an event that rolls back gives its index back.
CREATE TABLE accord.logs (
    alliance_id text   PRIMARY KEY,
    size        bigint NOT NULL CHECK (size >= 0)
);

-- Each event's place in its alliance's log: leaf `leaf_index` is the event at `global_position`; the leaf's
-- data is that event's chain hash (accord.events.hash).
CREATE TABLE accord.log_leaves (
    alliance_id     text   NOT NULL,
    leaf_index      bigint NOT NULL CHECK (leaf_index >= 0),
    global_position bigint NOT NULL UNIQUE,
    PRIMARY KEY (alliance_id, leaf_index)
);

-- The hashes of the tree's complete subtrees: node (level, idx) covers the leaves
-- [idx * 2^level, (idx + 1) * 2^level); level 0 holds the leaf hashes. Written after the leaves, by whoever
-- issues checkpoints; a proof reads O(log n) of them.
CREATE TABLE accord.log_nodes (
    alliance_id text     NOT NULL,
    level       smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx         bigint   NOT NULL CHECK (idx >= 0),
    hash        bytea    NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (alliance_id, level, idx)
);

-- The signed checkpoints (C2SP tlog-checkpoint): the note as signed, with its size and root for queries.
CREATE TABLE accord.checkpoints (
    alliance_id text        NOT NULL,
    tree_size   bigint      NOT NULL CHECK (tree_size >= 0),
    root_hash   bytea       NOT NULL CHECK (octet_length(root_hash) = 32),
    note        text        NOT NULL,
    issued_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (alliance_id, tree_size)
);

-- The witnesses' cosignatures (C2SP tlog-cosignature) of checkpoints, one line each.
CREATE TABLE accord.cosignatures (
    alliance_id text        NOT NULL,
    tree_size   bigint      NOT NULL,
    witness     text        NOT NULL,
    key         text        NOT NULL,
    line        text        NOT NULL,
    cosigned_at timestamptz NOT NULL,
    PRIMARY KEY (alliance_id, tree_size, key),
    FOREIGN KEY (alliance_id, tree_size) REFERENCES accord.checkpoints (alliance_id, tree_size)
);

-- The events recorded before the log existed become its first leaves: events/log.py `backfill`, which the
-- migrator runs once this file is applied (after the read models are rebuilt, which it needs).

-- The application appends leaves and grows the log; it never changes or removes a leaf, node, checkpoint,
-- or cosignature.
GRANT SELECT, INSERT, UPDATE ON accord.logs TO accord_app;
GRANT SELECT, INSERT ON accord.log_leaves, accord.log_nodes, accord.checkpoints, accord.cosignatures TO accord_app;
