-- The audit log is append-only: who read or changed which patient's record must not be
-- rewritable by the service that writes it. The service connects as the table's owner
-- (an owner keeps every privilege whatever is revoked), so a trigger refuses UPDATE,
-- DELETE and TRUNCATE for everyone; the REVOKE covers roles that are not the owner.

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- GET /v1/audit pages by (at, id), filtered by actor or call; a list read names its calls
-- in detail->'call_ids', found by containment.
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_actor ON audit_log (actor, at, id);
CREATE INDEX audit_log_call_ids ON audit_log USING gin ((detail -> 'call_ids'));
