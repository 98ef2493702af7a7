-- +goose Up
-- The mandate a merchant-initiated payment went without SCA under: the
-- payment that set it up ('' for none).
ALTER TABLE authorization_checks ADD COLUMN initial_authorization_id TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE authorization_checks DROP COLUMN initial_authorization_id;
