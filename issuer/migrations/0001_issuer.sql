-- tuaton issuance service, schema 1. Times are Unix seconds (bigint), binary ids bytea.

-- The issuer itself: one row.
CREATE TABLE issuer (
    one                boolean PRIMARY KEY DEFAULT true CHECK (one),
    issuer_id          integer NOT NULL,
    name               text    NOT NULL,
    status_size        bigint  NOT NULL CHECK (status_size >= 8),
    -- Bumped (UPDATE ... RETURNING) by every publish: never reused, even across instances.
    trust_list_version bigint  NOT NULL DEFAULT 0,
    -- The store key sealed under the passphrase (absent when every key is in a token).
    sealed_store_key   bytea,
    created_at         bigint  NOT NULL
);

-- Root versions: the signed root, and either its sealed secrets or the token labels.
CREATE TABLE roots (
    version      bigint PRIMARY KEY,
    signed       bytea  NOT NULL,
    secrets      bytea,
    token_labels text[],
    CHECK ((secrets IS NULL) <> (token_labels IS NULL))
);

-- Signing keys, newest last; state 0 active, 1 retired, 2 revoked.
CREATE TABLE signing_keys (
    seq         serial  PRIMARY KEY,
    kid         bytea   NOT NULL UNIQUE,
    public_key  bytea   NOT NULL,
    not_before  bigint  NOT NULL,
    not_after   bigint,
    state       smallint NOT NULL CHECK (state IN (0, 1, 2)),
    revoked_at  bigint,
    secret      bytea,
    token_label text,
    CHECK ((secret IS NULL) <> (token_label IS NULL))
);

-- Offices and admins; only a hash of each bearer credential is kept.
CREATE TABLE offices (
    id          bigserial PRIMARY KEY,
    name        text    NOT NULL UNIQUE,
    admin       boolean NOT NULL,
    token_hash  bytea   NOT NULL UNIQUE,
    created_at  bigint  NOT NULL,
    revoked_at  bigint
);

-- Offers: one-time. The record and portrait are kept only until the offer is redeemed or
-- expires; the package stays until expiry so a wallet whose connection dropped can fetch
-- the same credential again (never a second one).
CREATE TABLE offers (
    code_hash     bytea    PRIMARY KEY,
    tx_hash       bytea    NOT NULL,
    office_id     bigint   NOT NULL REFERENCES offices (id),
    officer       text     NOT NULL,
    record        bytea,
    portrait      bytea,
    created_at    bigint   NOT NULL,
    expires       bigint   NOT NULL,
    wrong_tries   integer  NOT NULL DEFAULT 0,
    -- 0 open, 1 redeemed, 2 closed after too many wrong transaction codes
    state         smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
    holder_key    bytea,
    credential_id bytea,
    package       bytea
);
CREATE INDEX offers_expires ON offers (expires) WHERE record IS NOT NULL OR package IS NOT NULL;

-- Status lists and how full each is.
CREATE TABLE status_lists (
    list integer PRIMARY KEY CHECK (list >= 0),
    fill bigint  NOT NULL DEFAULT 0
);
INSERT INTO status_lists (list) VALUES (0);

-- Credentials: the unique (list, idx) is what keeps two concurrent issuances from ever
-- sharing a status bit.
CREATE TABLE credentials (
    credential_id bytea   PRIMARY KEY CHECK (length(credential_id) = 8),
    list          integer NOT NULL REFERENCES status_lists (list),
    idx           bigint  NOT NULL CHECK (idx >= 0),
    issued_at     bigint  NOT NULL,
    kid           bytea   NOT NULL,
    office_id     bigint  REFERENCES offices (id),
    officer       text,
    UNIQUE (list, idx)
);

CREATE TABLE revocations (
    credential_id bytea  PRIMARY KEY REFERENCES credentials (credential_id),
    revoked_at    bigint NOT NULL,
    actor         text   NOT NULL
);

-- Every issuance, revocation, rotation and publish, by office and officer.
CREATE TABLE audit (
    id      bigserial PRIMARY KEY,
    at      bigint NOT NULL,
    office  text   NOT NULL,
    officer text   NOT NULL,
    action  text   NOT NULL,
    detail  text   NOT NULL
);

-- The latest published bundle generations, served at /bundle/.
CREATE TABLE bundle_files (
    generation bigint NOT NULL,
    path       text   NOT NULL,
    body       bytea  NOT NULL,
    PRIMARY KEY (generation, path)
);
