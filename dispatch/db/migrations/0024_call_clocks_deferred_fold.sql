-- call_clocks folded after the write instead of in it. The triggers of 0007, 0008 and 0015
-- folded every INSERT into events (and every insert or change of a call) into call_clocks
-- in the writing transaction: ~3/4 of PostgreSQL's CPU for writing a call, on the intake's
-- path. Now a write only records which calls changed, in call_clocks_pending (one small
-- INSERT per statement), and the fold runs later, for many calls at once:
-- * before every read of call_clocks, in the reader's own snapshot (dispatch/metrics/
--   queries.py), so a reader sees every event committed before its snapshot, and
-- * in the background (dispatch/metrics/clock_folder.py), so the pending table stays small.
-- A pending call is refolded whole from its events and its calls row (call_clocks_refold:
-- the values of call_clocks_rebuild, in one pass); call_clocks stays a pure function of
-- `events` and `calls`, with the same values as before (tests hold the deferred fold to
-- the per-event one, row for row).
--
-- Concurrency. Folders take call_clocks_fold_lock (SHARE UPDATE EXCLUSIVE: folders exclude
-- each other, writers never wait for it) before they read the pending rows, so folds are
-- serial and each one sees every fold committed before it. A pending row of a transaction
-- not yet committed is invisible to the fold's DELETE and stays for a later fold, so no
-- committed event is ever left unfolded. Pending rows are never deduplicated on insert: a
-- writer that skipped its row because one was already there could see that row taken by a
-- fold whose snapshot missed the writer's events.

CREATE TABLE call_clocks_pending (
    call_id uuid NOT NULL
);
-- every row is deleted within about a second of its insert: vacuum it often
ALTER TABLE call_clocks_pending SET (
    autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 2000);

-- Holds no rows: its table lock is the folders' mutex. A table lock rather than an
-- advisory lock because LOCK TABLE takes no snapshot: a REPEATABLE READ reader locks first,
-- and its snapshot, taken by its next statement, then sees every fold committed before.
CREATE TABLE call_clocks_fold_lock ();

DROP TRIGGER events_fold_call_clocks ON events;
DROP TRIGGER events_fold_destination_clocks ON events;
DROP TRIGGER events_refold_updated ON events;
DROP TRIGGER events_refold_deleted ON events;
DROP TRIGGER calls_copy_to_call_clocks ON calls;
DROP TRIGGER calls_update_call_clocks ON calls;
DROP TRIGGER calls_delete_call_clocks ON calls;
DROP FUNCTION call_clocks_fold_inserted();
DROP FUNCTION call_clocks_fold_destination();
DROP FUNCTION call_clocks_refold_changed();
DROP FUNCTION call_clocks_add_calls();
DROP FUNCTION call_clocks_follow_call();
DROP FUNCTION call_clocks_forget_calls();

-- New events: the calls of those that call_clocks reads (the kinds of 0007's fold).
CREATE FUNCTION call_clocks_mark_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_clocks_pending (call_id)
    SELECT DISTINCT call_id FROM new_events
    WHERE call_id IS NOT NULL
      AND kind IN ('call_received', 'call_answered', 'cancelled', 'centre_alerted',
                   'team_activated', 'dispatched', 'unassigned', 'departed', 'on_scene',
                   'patient_contact', 'left_scene', 'at_destination', 'handover');
    RETURN NULL;
END
$$;

-- Events corrected or removed (append-only by convention): their calls, whatever the kind.
CREATE FUNCTION call_clocks_mark_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO call_clocks_pending (call_id)
        SELECT call_id FROM old_events WHERE call_id IS NOT NULL
        UNION SELECT call_id FROM new_events WHERE call_id IS NOT NULL;
    ELSE
        INSERT INTO call_clocks_pending (call_id)
        SELECT DISTINCT call_id FROM old_events WHERE call_id IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

-- Calls inserted or deleted (the fold drops the row of a call that is gone).
CREATE FUNCTION call_clocks_mark_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO call_clocks_pending (call_id) SELECT id FROM new_calls;
    ELSE
        INSERT INTO call_clocks_pending (call_id) SELECT id FROM old_calls;
    END IF;
    RETURN NULL;
END
$$;

-- A call whose copied attributes changed (the WHEN of 0008/0015: status updates cost
-- nothing here).
CREATE FUNCTION call_clocks_mark_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_clocks_pending (call_id) VALUES (NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_mark_call_clocks AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_mark_inserted();
CREATE TRIGGER events_mark_updated AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_mark_changed();
CREATE TRIGGER events_mark_deleted AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_mark_changed();
CREATE TRIGGER calls_mark_inserted AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_mark_calls();
CREATE TRIGGER calls_mark_deleted AFTER DELETE ON calls
    REFERENCING OLD TABLE AS old_calls
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_mark_calls();
CREATE TRIGGER calls_mark_updated
    AFTER UPDATE OF received_at, acuity, transport_class, pathway, district_id,
                    destination_id, booked_to, triage ON calls
    FOR EACH ROW
    WHEN ((OLD.received_at, OLD.acuity, OLD.transport_class, OLD.pathway, OLD.district_id,
           OLD.destination_id, OLD.booked_to, OLD.triage->'flags')
          IS DISTINCT FROM
          (NEW.received_at, NEW.acuity, NEW.transport_class, NEW.pathway, NEW.district_id,
           NEW.destination_id, NEW.booked_to, NEW.triage->'flags'))
    EXECUTE FUNCTION call_clocks_mark_call();

-- Refold the given calls from their events and calls rows: the values call_clocks_rebuild
-- (0015) gives, written in one pass (the rebuild deletes the row, inserts its clocks, then
-- updates the picks, the attributes and the destination clocks: four row versions). Ids
-- reach the views as `= ANY` quals, which PostgreSQL pushes into their GROUP BY.
CREATE FUNCTION call_clocks_refold(call_ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_vehicle_clocks WHERE call_id = ANY(call_ids);
    INSERT INTO call_vehicle_clocks
    SELECT * FROM call_vehicle_clocks_from_events WHERE call_id = ANY(call_ids);
    DELETE FROM call_clocks c  -- calls deleted since
    WHERE c.call_id = ANY(call_ids) AND NOT EXISTS (SELECT 1 FROM calls k WHERE k.id = c.call_id);
    INSERT INTO call_clocks AS c (
        call_id, received, answered, cancelled, alerted, team, call_handover,
        first_order, contact, repairs, cv_vehicle_id, cv_station_id, cv_dispatched,
        cv_departed, fa_on_scene, fa_departed, tv_on_scene, tv_left_scene,
        tv_at_destination, tv_handover,
        received_at, acuity, transport_class, pathway, district_id, destination_id,
        booked_to, flags, dest_alerted, dest_team)
    SELECT k.id, e.received, e.answered, e.cancelled, e.alerted, e.team, e.call_handover,
           d.first_order, d.contact, coalesce(d.repairs, 0), d.cv_vehicle_id,
           d.cv_station_id, d.cv_dispatched, d.cv_departed, d.fa_on_scene, d.fa_departed,
           d.tv_on_scene, d.tv_left_scene, d.tv_at_destination, d.tv_handover,
           k.received_at, k.acuity, k.transport_class, k.pathway, k.district_id,
           k.destination_id, k.booked_to, call_clocks_flags(k.triage), t.alerted, t.team
    FROM calls k
    LEFT JOIN (SELECT * FROM call_clocks_from_events WHERE call_id = ANY(call_ids)) e
           ON e.call_id = k.id
    LEFT JOIN (SELECT * FROM call_clocks_derived WHERE call_id = ANY(call_ids)) d
           ON d.call_id = k.id
    -- the destination clocks of 0015 (an event naming no centre counts for any)
    CROSS JOIN LATERAL (
        SELECT min(x.occurred_at) FILTER (WHERE x.kind = 'centre_alerted') AS alerted,
               min(x.occurred_at) FILTER (WHERE x.kind = 'team_activated') AS team
        FROM events x
        WHERE x.call_id = k.id AND x.kind IN ('centre_alerted', 'team_activated')
          AND (x.data->>'hospital_id' IS NULL OR x.data->>'hospital_id' = k.destination_id)
    ) t
    WHERE k.id = ANY(call_ids)
    ORDER BY k.id
    ON CONFLICT (call_id) DO UPDATE SET
        received = excluded.received, answered = excluded.answered,
        cancelled = excluded.cancelled, alerted = excluded.alerted, team = excluded.team,
        call_handover = excluded.call_handover, first_order = excluded.first_order,
        contact = excluded.contact, repairs = excluded.repairs,
        cv_vehicle_id = excluded.cv_vehicle_id, cv_station_id = excluded.cv_station_id,
        cv_dispatched = excluded.cv_dispatched, cv_departed = excluded.cv_departed,
        fa_on_scene = excluded.fa_on_scene, fa_departed = excluded.fa_departed,
        tv_on_scene = excluded.tv_on_scene, tv_left_scene = excluded.tv_left_scene,
        tv_at_destination = excluded.tv_at_destination, tv_handover = excluded.tv_handover,
        received_at = excluded.received_at, acuity = excluded.acuity,
        transport_class = excluded.transport_class, pathway = excluded.pathway,
        district_id = excluded.district_id, destination_id = excluded.destination_id,
        booked_to = excluded.booked_to, flags = excluded.flags,
        dest_alerted = excluded.dest_alerted, dest_team = excluded.dest_team;
END
$$;

-- Fold every pending call (or `max_calls` of them: a backlog in short transactions);
-- returns how many, or NULL if `wait` is false and another fold holds the lock. Under READ COMMITTED each statement below takes a fresh snapshot, after
-- the lock; a REPEATABLE READ caller must LOCK call_clocks_fold_lock before its first
-- statement (see the header) for its snapshot to come after the lock.
CREATE FUNCTION call_clocks_fold_pending(
    wait boolean DEFAULT true, max_calls integer DEFAULT NULL
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    ids uuid[];
BEGIN
    IF wait THEN
        LOCK TABLE call_clocks_fold_lock IN SHARE UPDATE EXCLUSIVE MODE;
    ELSE
        BEGIN
            LOCK TABLE call_clocks_fold_lock IN SHARE UPDATE EXCLUSIVE MODE NOWAIT;
        EXCEPTION WHEN lock_not_available THEN
            RETURN NULL;
        END;
    END IF;
    IF max_calls IS NULL THEN
        WITH taken AS (DELETE FROM call_clocks_pending RETURNING call_id)
        SELECT array_agg(DISTINCT call_id ORDER BY call_id) INTO ids FROM taken;
    ELSE
        WITH taken AS (
            DELETE FROM call_clocks_pending
            WHERE call_id = ANY(ARRAY(SELECT DISTINCT call_id FROM call_clocks_pending
                                      LIMIT max_calls))
            RETURNING call_id)
        SELECT array_agg(DISTINCT call_id ORDER BY call_id) INTO ids FROM taken;
    END IF;
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM call_clocks_refold(ids);
    RETURN cardinality(ids);
END
$$;

