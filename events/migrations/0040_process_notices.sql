-- Notices that no recorded event caused: when a process stops because its stream was changed outside
-- accord (quarantine), its coordinators are told through the same outbox, but there is no event of
-- theirs to point to (the offending row may not even be one accord wrote).
ALTER TABLE accord.notifications ALTER COLUMN event_id DROP NOT NULL;

COMMENT ON COLUMN accord.notifications.event_id IS
    'The event in accord.events whose recording caused this notification (same transaction); NULL for a '
    'notice about the process itself, such as its quarantine (kind ''quarantined'').';
