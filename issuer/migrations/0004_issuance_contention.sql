-- tuaton issuance service, schema 4: what fifty offices issuing at once contend for.
-- Stop every instance of an older version before the first one of this version starts
-- (issuances no longer share the issuer row an older key change locks; ISSUANCE.md).

-- An issuance counts its place in a status list with
-- the statements sent together with its COMMIT, so the list's row is locked only while
-- that commit runs. The count cannot be read back before COMMIT is sent; a list already
-- at its mark raises TU001 instead, which rolls the whole issuance back (the service
-- tries again, in the next list with room).
CREATE FUNCTION tuaton_bump_fill(l integer, cap bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE status_lists SET fill = fill + 1 WHERE list = l AND fill < cap;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'status list % is at its mark', l USING ERRCODE = 'TU001';
    END IF;
END
$$;

-- Every credential's foreign key to its status list made each issuance take a key-share
-- lock on the list's row, the one row all of them also update: PostgreSQL then writes a
-- multixact per issuance. Lists are made by open_list and never deleted; the unique
-- (list, idx) is what matters, and it stays.
ALTER TABLE credentials DROP CONSTRAINT credentials_list_fkey;

-- Portraits are JPEG and packages carry them in base64: compressing them on every offer
-- and redemption gained little and cost the server's time. Both go when the offer expires.
ALTER TABLE offers ALTER COLUMN portrait SET STORAGE EXTERNAL;
ALTER TABLE offers ALTER COLUMN package SET STORAGE EXTERNAL;
