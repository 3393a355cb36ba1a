-- tuaton issuance service, schema 6: the issuer's DID.
-- The issuer's DID in the W3C form, the same across key rotations (NULL: an issuer made
-- before it, which has the default of its number).
ALTER TABLE issuer ADD COLUMN did text;
