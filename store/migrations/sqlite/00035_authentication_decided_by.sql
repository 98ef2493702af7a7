-- +goose Up
-- Who answered an authentication request: vaultpage, or the partner's
-- real-time decision endpoint (a decline or a challenge), or its fallback.
ALTER TABLE authentications ADD COLUMN decided_by TEXT NOT NULL DEFAULT 'vaultpage';

-- +goose Down
ALTER TABLE authentications DROP COLUMN decided_by;
