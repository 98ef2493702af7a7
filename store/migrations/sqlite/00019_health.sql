-- +goose Up
-- Readiness writes here (DB.Ready): a store that answers but cannot write
-- (a full disk, a read-only replica) is not ready. One row per process.
CREATE TABLE health (
    id TEXT PRIMARY KEY,
    at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE health;
