-- An Idempotency-Key names one request: the SHA-256 of the canonical request body is kept
-- with the key (dispatch/idempotency.py), so a retry is told from a different call that
-- reuses the key. NULL for calls taken without a key or before this migration.
ALTER TABLE calls ADD COLUMN request_fingerprint text;
