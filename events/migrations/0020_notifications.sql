-- The notification outbox: one row per recipient of an event, written in the same transaction as
-- the event, so a notification exists exactly when its cause is in the record.
CREATE TABLE accord.notifications (
    notification_id uuid PRIMARY KEY,
    event_id        uuid NOT NULL,  -- the event in accord.events that caused it (same transaction)
    stream_id       text NOT NULL,
    alliance_id     text NOT NULL,
    member_id       text NOT NULL,
    kind            text NOT NULL,
    message         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    last_error      text,
    delivered_at    timestamptz
);
CREATE INDEX notifications_member ON accord.notifications (alliance_id, member_id, created_at);

COMMENT ON TABLE accord.notifications IS
    'Outbox: who is told of which event (kind, message); delivery to the member''s webhook is recorded '
    'in attempts, last_error and delivered_at (NULL: not delivered, e.g. the member has no webhook).';

GRANT SELECT, INSERT, UPDATE ON accord.notifications TO accord_app;
