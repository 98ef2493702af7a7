-- +goose Up
-- Until when a decision endpoint's rotated-out secret still signs, beside
-- the new one (the previous secret sealed in the vault).
ALTER TABLE decision_endpoints ADD COLUMN previous_until DATETIME;

-- +goose Down
ALTER TABLE decision_endpoints DROP COLUMN previous_until;
