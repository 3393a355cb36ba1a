-- tuaton issuance service, schema 3: how many valid cards one citizen may hold (0: no
-- limit). A new card beyond it revokes the oldest as superseded.
ALTER TABLE issuer ADD COLUMN cards_per_citizen integer NOT NULL DEFAULT 1
    CHECK (cards_per_citizen >= 0);
