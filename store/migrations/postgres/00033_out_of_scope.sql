-- +goose Up
-- Why an online payment was outside SCA's scope, as the acquirer flagged
-- it: moto or merchant_initiated ('' for a payment in scope).
ALTER TABLE authorization_checks ADD COLUMN out_of_scope TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE authorization_checks DROP COLUMN out_of_scope;
