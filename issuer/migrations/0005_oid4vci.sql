-- tuaton issuance service, schema 5: the standard OpenID4VCI 1.0 flow beside the compact
-- one. An offer's pre-authorised code is exchanged once, at the token endpoint, for an
-- access token; the credential endpoint redeems the offer by that token. Only the token's
-- hash is kept, as for the codes.

-- 3: the pre-authorised code was exchanged for an access token (no second exchange).
ALTER TABLE offers DROP CONSTRAINT offers_state_check;
ALTER TABLE offers ADD CONSTRAINT offers_state_check CHECK (state IN (0, 1, 2, 3));
ALTER TABLE offers ADD COLUMN token_hash bytea;
ALTER TABLE offers ADD COLUMN token_expires bigint;
CREATE UNIQUE INDEX offers_token ON offers (token_hash) WHERE token_hash IS NOT NULL;

-- Secrets every instance of the service shares: the key that makes and checks c_nonce
-- values (so a nonce from one instance is good at another), made once by the first
-- instance that needs it.
CREATE TABLE service_secrets (
    name   text  PRIMARY KEY,
    secret bytea NOT NULL CHECK (length(secret) = 32)
);
