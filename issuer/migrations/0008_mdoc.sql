-- tuaton issuance service, schema 8: the mdoc form's certificates.
-- The IACA root and document signer certificates with their sealed P-256 keys, as JSON
-- (issuer/src/seam.rs, MdocKeys). NULL: an issuer made before the mdoc form; the first
-- unlock with the passphrase makes them.
ALTER TABLE issuer ADD COLUMN mdoc text;
