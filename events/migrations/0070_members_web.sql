-- The members' web pages and email. None of this is a governance fact, so none of it is an event: a
-- member's address and preferences are personal data that must be changeable and erasable, which the
-- append-only, hash-chained record is not (docs/design.md, "Contacts are not events").

-- How a member is reached: its address (sign-in links, notifications), its language, and how it wants
-- each kind of notification: {"<kind>" or "*": "email" | "webhook" | "none"}; a kind not named (and no
-- "*") goes by webhook where one is set, else by email where an address is.
CREATE TABLE accord.member_contacts (
    alliance_id text NOT NULL,
    member_id   text NOT NULL,
    email       text,
    language    text,
    delivery    jsonb NOT NULL DEFAULT '{}',
    last_visit  timestamptz,
    calendar_hash bytea UNIQUE,  -- the secret of the member's calendar feed, hashed
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alliance_id, member_id)
);
CREATE INDEX member_contacts_email ON accord.member_contacts (lower(email));

-- One-time sign-in links: only a hash of the link's secret is kept; a link is used once, and expires.
CREATE TABLE accord.sign_in_links (
    link_hash   bytea PRIMARY KEY,
    alliance_id text NOT NULL,
    member_id   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

-- Signed-in browsers: the cookie holds the session's secret, the table its hash and the form token
-- (CSRF) every form of the session must carry.
CREATE TABLE accord.web_sessions (
    session_hash bytea PRIMARY KEY,
    alliance_id  text NOT NULL,
    member_id    text NOT NULL,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);
CREATE INDEX web_sessions_member ON accord.web_sessions (alliance_id, member_id);

-- One-click answers: each link of a notification email stands for one stance on one point, by one member.
-- Following it only asks; the stance is taken when the member confirms. It works until the decision's
-- deadline when it was sent, and for one confirmation.
CREATE TABLE accord.answer_links (
    link_hash   bytea PRIMARY KEY,
    alliance_id text NOT NULL,
    member_id   text NOT NULL,
    decision_id text NOT NULL,
    point_id    text NOT NULL,
    stance      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

GRANT SELECT, INSERT, UPDATE, DELETE ON accord.member_contacts TO accord_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON accord.answer_links TO accord_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON accord.sign_in_links TO accord_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON accord.web_sessions TO accord_app;
