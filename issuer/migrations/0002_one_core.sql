-- tuaton issuance service, schema 2: one issuer core over both stores.

-- A signing key may be staged (3): made by rotate, active from the publish that names it.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_state_check;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_state_check CHECK (state IN (0, 1, 2, 3));
-- Root and citizen-key secrets are kept the same way as the sled store's: JSON of
-- {"sealed": [bytes]} or {"token": [labels]}.
ALTER TABLE issuer ADD COLUMN citizen_key text;

-- What a refresh and a lost phone need: the holder key, the digest of the claims issued,
-- and the keyed hash of the citizen ID (never the ID).
ALTER TABLE credentials ADD COLUMN holder bytea;
ALTER TABLE credentials ADD COLUMN claims bytea;
ALTER TABLE credentials ADD COLUMN citizen bytea;
ALTER TABLE credentials ADD COLUMN actor text;
CREATE INDEX credentials_citizen ON credentials (citizen);

-- Why a credential was revoked: 'cause' stops a refresh, 'superseded' does not.
ALTER TABLE revocations ADD COLUMN reason text NOT NULL DEFAULT 'cause'
    CHECK (reason IN ('cause', 'superseded'));
