-- +goose Up
-- Audit entries wait here, written in the transaction of the change they
-- record, until one chainer at a time (store/audit.go) gives them their
-- sequence number and hash in audit_log, within about a second of their
-- commit. Chaining in the request held one advisory lock from the append
-- to the commit, so every audited write of every partner queued on it.
CREATE TABLE audit_pending (
    id      TEXT PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    result  TEXT NOT NULL,
    source  TEXT NOT NULL,
    details TEXT NOT NULL
);

-- +goose Down
-- Entries still waiting are lost: chain them first (vaultpage audit verify does).
DROP TABLE audit_pending;
