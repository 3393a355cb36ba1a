-- tuaton issuance service, schema 4: an issuance counts its place in a status list with
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
