-- Read models: rows the lists and checks read, kept from the events in the append's own transaction
-- (events/projector.py). One table for every model: a row per process, found by its model and key
-- (the process's id), listed per alliance in the order of the event that created it, with the stream
-- version it reflects; the row itself is the model's JSON, written and read by its pydantic type.
-- `accord db rebuild` folds the log into it again.
CREATE TABLE accord.read_models (
    model       text   NOT NULL,
    key         text   NOT NULL,
    alliance_id text   NOT NULL,
    position    bigint NOT NULL,
    version     bigint NOT NULL,
    row         jsonb  NOT NULL,
    PRIMARY KEY (model, key)
);
CREATE INDEX read_models_by_alliance ON accord.read_models (model, alliance_id, position);

GRANT SELECT, INSERT, UPDATE, DELETE ON accord.read_models TO accord_app;
