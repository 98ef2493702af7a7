-- +goose Up
-- What a reissue lineage's authorisations count towards spend limits, per
-- UTC day of the authorisation (day = days since 1970-01-01). Every limit
-- window starts at a UTC midnight, so a window's usage is the sum of at
-- most 366 rows, however long the card's history. Kept in step with
-- authorizations.spent in the transaction that changes it.
CREATE TABLE spend_days (
    lineage_id TEXT NOT NULL,
    day        BIGINT NOT NULL,
    spent      BIGINT NOT NULL,
    PRIMARY KEY (lineage_id, day)
);
INSERT INTO spend_days (lineage_id, day, spent)
    SELECT lineage_id, (created_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01', SUM(spent)
    FROM authorizations GROUP BY 1, 2;

-- +goose Down
DROP TABLE spend_days;
