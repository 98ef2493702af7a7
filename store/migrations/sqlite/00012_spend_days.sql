-- +goose Up
-- What a reissue lineage's authorisations count towards spend limits, per
-- UTC day of the authorisation (day = days since 1970-01-01). Every limit
-- window starts at a UTC midnight, so a window's usage is the sum of at
-- most 366 rows, however long the card's history. Kept in step with
-- authorizations.spent in the transaction that changes it.
CREATE TABLE spend_days (
    lineage_id TEXT NOT NULL,
    day        INTEGER NOT NULL,
    spent      INTEGER NOT NULL,
    PRIMARY KEY (lineage_id, day)
) WITHOUT ROWID;
INSERT INTO spend_days (lineage_id, day, spent)
    SELECT lineage_id, CAST(julianday(substr(created_at, 1, 10)) - 2440587.5 AS INTEGER), SUM(spent)
    FROM authorizations GROUP BY 1, 2;

-- +goose Down
DROP TABLE spend_days;
