-- tuaton issuance service, schema 7: the officer console. Each officer signs in with a
-- password of their own (an office's bearer credential stays for machine clients).

CREATE TABLE officers (
    id            bigserial PRIMARY KEY,
    office_id     bigint NOT NULL REFERENCES offices (id),
    name          text   NOT NULL,
    -- Argon2id, PHC string format.
    password_hash text   NOT NULL,
    -- Wrong passwords in a row, and until when sign-in is refused after too many.
    failed        integer NOT NULL DEFAULT 0,
    locked_until  bigint  NOT NULL DEFAULT 0,
    created_at    bigint  NOT NULL,
    revoked_at    bigint
);
CREATE UNIQUE INDEX officers_name ON officers (name) WHERE revoked_at IS NULL;

-- A signed-in browser: only the cookie's hash is kept.
CREATE TABLE console_sessions (
    token_hash bytea  PRIMARY KEY,
    officer_id bigint NOT NULL REFERENCES officers (id),
    csrf       text   NOT NULL,
    created_at bigint NOT NULL,
    last_seen  bigint NOT NULL
);

-- Which console session's officer made an offer: its page may follow the offer's state.
ALTER TABLE offers ADD COLUMN officer_id bigint REFERENCES officers (id);
