-- Auditor tokens: an alliance's coordinators may give an outside auditor read-only access to the
-- alliance's audit endpoints (verify, replay, check, export, receipts, what-if) and nothing else.
-- An auditor is not a member: its token's member_id reads 'auditor:<label>', which no member id can
-- (member ids are slugs, without ':'), and the constraint keeps the flag and the name in step.
ALTER TABLE accord.api_tokens
    ADD COLUMN auditor boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT api_tokens_auditor_named CHECK (auditor = starts_with(member_id, 'auditor:'));

COMMENT ON COLUMN accord.api_tokens.auditor IS
    'true: a read-only auditor token (member_id ''auditor:<label>''): it may call the alliance''s audit '
    'endpoints only; false: the token of the member named in member_id.';
