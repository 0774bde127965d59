-- Per-call clocks for the indicators (dispatch/metrics/queries.py): a cache of the timeline.
--
-- Indicators are computed from events, never from mutable state columns (architecture,
-- principle 4). These two tables are a pure function of `events` and can be rebuilt from it
-- at any time (`SELECT call_clocks_rebuild(NULL)`); they exist so that the indicator query
-- reads one row per call instead of joining and grouping ~11 events per call.
--
-- * call_vehicle_clocks: per (call, vehicle) the earliest occurred_at and received_at of
--   each vehicle clock (rule 1 of dispatch/metrics/intervals.py: earliest wins, so late,
--   duplicate and out-of-order events fold to the same row). Folding is `least()`, which is
--   commutative: the order in which events arrive does not matter.
-- * call_clocks: per call the earliest call-level clocks, plus the vehicles the rules pick
--   (counted = first-dispatched not stood down, first-arriving, transporting) with their
--   repaired clocks (rule 2). The picks are not monotone (an `unassigned` can remove the
--   counted vehicle, a late `dispatched` can repair clocks already folded), so they are
--   recomputed from the call's few vehicle rows whenever one of them changes.
--
-- An AFTER INSERT statement trigger on `events` keeps both current in the inserting
-- transaction, set-based (one pass per statement, so COPY and multi-row inserts pay once).
-- Concurrency: the fold locks the calls' call_clocks rows first, in call_id order, so two
-- transactions appending to the same call fold one after the other (the second waits for
-- the first to commit, then re-reads the vehicle rows in a fresh READ COMMITTED snapshot).
-- Events are append-only; an UPDATE, DELETE or TRUNCATE of events still leaves the cache
-- exact: the affected calls are refolded from their events.

CREATE TABLE call_vehicle_clocks (
    call_id            uuid NOT NULL,
    vehicle_id         text NOT NULL,
    dispatched         timestamptz,
    station_id         text,           -- least data->>'station_id' of its `dispatched` events
    unassigned         boolean NOT NULL DEFAULT false,
    departed_o         timestamptz,    -- _o: earliest source clock, _r: earliest receipt
    departed_r         timestamptz,
    on_scene_o         timestamptz,
    on_scene_r         timestamptz,
    patient_contact_o  timestamptz,
    patient_contact_r  timestamptz,
    left_scene_o       timestamptz,
    left_scene_r       timestamptz,
    at_destination_o   timestamptz,
    at_destination_r   timestamptz,
    handover_o         timestamptz,
    handover_r         timestamptz,
    PRIMARY KEY (call_id, vehicle_id)
);

CREATE TABLE call_clocks (
    call_id            uuid PRIMARY KEY,
    -- call-level clocks: earliest event of the kind on the call, whatever its vehicle
    received           timestamptz,
    answered           timestamptz,
    cancelled          timestamptz,
    alerted            timestamptz,
    team               timestamptz,
    call_handover      timestamptz,    -- a handover event with no vehicle
    -- derived from call_vehicle_clocks (rules 2 and 4)
    first_order        timestamptz,    -- first dispatch order of any vehicle
    contact            timestamptz,    -- first patient contact of any vehicle
    repairs            integer NOT NULL DEFAULT 0,
    cv_vehicle_id      text,           -- counted vehicle: first dispatched, not stood down
    cv_station_id      text,
    cv_dispatched      timestamptz,
    cv_departed        timestamptz,
    fa_on_scene        timestamptz,    -- first-arriving vehicle
    fa_departed        timestamptz,
    tv_on_scene        timestamptz,    -- transporting vehicle: first to leave the scene
    tv_left_scene      timestamptz,
    tv_at_destination  timestamptz,
    tv_handover        timestamptz
);

-- Rule 2, repaired clock: a source clock before the vehicle's dispatch order is replaced by
-- our receipt, clamped to the order.
CREATE FUNCTION call_clocks_repaired(
    occurred timestamptz, received timestamptz, dispatched timestamptz
) RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN occurred < dispatched THEN greatest(received, dispatched) ELSE occurred END
$$;

-- The derived columns of call_clocks for every call with vehicle rows. Quals on call_id
-- are pushed into the GROUP BY, so `WHERE call_id = ANY(...)` reads only those calls.
CREATE VIEW call_clocks_derived AS
WITH r AS (
    SELECT call_id, vehicle_id, dispatched, station_id,
           unassigned AND departed_o IS NULL AS stood_down,
           call_clocks_repaired(departed_o, departed_r, dispatched) AS departed,
           call_clocks_repaired(on_scene_o, on_scene_r, dispatched) AS on_scene,
           call_clocks_repaired(patient_contact_o, patient_contact_r, dispatched) AS contact,
           call_clocks_repaired(left_scene_o, left_scene_r, dispatched) AS left_scene,
           call_clocks_repaired(at_destination_o, at_destination_r, dispatched)
               AS at_destination,
           call_clocks_repaired(handover_o, handover_r, dispatched) AS handover,
           coalesce(departed_o < dispatched, false)::int
             + coalesce(on_scene_o < dispatched, false)::int
             + coalesce(patient_contact_o < dispatched, false)::int
             + coalesce(left_scene_o < dispatched, false)::int
             + coalesce(at_destination_o < dispatched, false)::int
             + coalesce(handover_o < dispatched, false)::int AS repairs
    FROM call_vehicle_clocks
),
m AS (
    -- min() over a row-typed array (types in 0003) picks the earliest vehicle, ties by id
    SELECT call_id,
           min(dispatched) AS first_order,
           min(contact) AS contact,
           sum(repairs)::int AS repairs,
           min(ARRAY[ROW(dispatched, vehicle_id, departed, station_id)::metrics_counted_vehicle])
               FILTER (WHERE dispatched IS NOT NULL AND NOT stood_down) AS cv,
           min(ARRAY[ROW(on_scene, vehicle_id, departed)::metrics_first_arriving])
               FILTER (WHERE on_scene IS NOT NULL) AS fa,
           min(ARRAY[ROW(left_scene, vehicle_id, on_scene, at_destination, handover)
                     ::metrics_transporting])
               FILTER (WHERE left_scene IS NOT NULL) AS tv
    FROM r GROUP BY call_id
)
SELECT call_id, first_order, contact, repairs,
       (cv[1]).vehicle_id AS cv_vehicle_id, (cv[1]).station_id AS cv_station_id,
       (cv[1]).dispatched AS cv_dispatched, (cv[1]).departed AS cv_departed,
       (fa[1]).on_scene AS fa_on_scene, (fa[1]).departed AS fa_departed,
       (tv[1]).on_scene AS tv_on_scene, (tv[1]).left_scene AS tv_left_scene,
       (tv[1]).at_destination AS tv_at_destination, (tv[1]).handover AS tv_handover
FROM m;

-- The fold of `events`, written once for the rebuild; the trigger below applies the same
-- aggregates to the rows of one statement (tests hold the two to the same tables). Quals on
-- call_id are pushed into the GROUP BY.
CREATE VIEW call_vehicle_clocks_from_events AS
    SELECT call_id, vehicle_id,
           min(occurred_at) FILTER (WHERE kind = 'dispatched') AS dispatched,
           min(data->>'station_id') FILTER (WHERE kind = 'dispatched') AS station_id,
           bool_or(kind = 'unassigned') AS unassigned,
           min(occurred_at) FILTER (WHERE kind = 'departed') AS departed_o,
           min(received_at) FILTER (WHERE kind = 'departed') AS departed_r,
           min(occurred_at) FILTER (WHERE kind = 'on_scene') AS on_scene_o,
           min(received_at) FILTER (WHERE kind = 'on_scene') AS on_scene_r,
           min(occurred_at) FILTER (WHERE kind = 'patient_contact') AS patient_contact_o,
           min(received_at) FILTER (WHERE kind = 'patient_contact') AS patient_contact_r,
           min(occurred_at) FILTER (WHERE kind = 'left_scene') AS left_scene_o,
           min(received_at) FILTER (WHERE kind = 'left_scene') AS left_scene_r,
           min(occurred_at) FILTER (WHERE kind = 'at_destination') AS at_destination_o,
           min(received_at) FILTER (WHERE kind = 'at_destination') AS at_destination_r,
           min(occurred_at) FILTER (WHERE kind = 'handover') AS handover_o,
           min(received_at) FILTER (WHERE kind = 'handover') AS handover_r
    FROM events
    WHERE call_id IS NOT NULL AND vehicle_id IS NOT NULL
      AND kind IN ('dispatched', 'unassigned', 'departed', 'on_scene', 'patient_contact',
                   'left_scene', 'at_destination', 'handover')
    GROUP BY call_id, vehicle_id;

CREATE VIEW call_clocks_from_events AS
    SELECT call_id,
           min(occurred_at) FILTER (WHERE kind = 'call_received') AS received,
           min(occurred_at) FILTER (WHERE kind = 'call_answered') AS answered,
           min(occurred_at) FILTER (WHERE kind = 'cancelled') AS cancelled,
           min(occurred_at) FILTER (WHERE kind = 'centre_alerted') AS alerted,
           min(occurred_at) FILTER (WHERE kind = 'team_activated') AS team,
           min(occurred_at) FILTER (WHERE kind = 'handover' AND vehicle_id IS NULL)
               AS call_handover
    FROM events
    WHERE call_id IS NOT NULL
      AND kind IN ('call_received', 'call_answered', 'cancelled', 'centre_alerted',
                   'team_activated', 'dispatched', 'unassigned', 'departed', 'on_scene',
                   'patient_contact', 'left_scene', 'at_destination', 'handover')
    GROUP BY call_id;

-- AFTER INSERT, once per statement over its new rows.
CREATE FUNCTION call_clocks_fold_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid[];
BEGIN
    -- 1. Call rows first, in call_id order: creates them and takes their row locks, which
    --    serialises concurrent folds of one call (see the header) without deadlocks.
    INSERT INTO call_clocks AS c
           (call_id, received, answered, cancelled, alerted, team, call_handover)
    SELECT call_id,
           min(occurred_at) FILTER (WHERE kind = 'call_received') AS received,
           min(occurred_at) FILTER (WHERE kind = 'call_answered') AS answered,
           min(occurred_at) FILTER (WHERE kind = 'cancelled') AS cancelled,
           min(occurred_at) FILTER (WHERE kind = 'centre_alerted') AS alerted,
           min(occurred_at) FILTER (WHERE kind = 'team_activated') AS team,
           min(occurred_at) FILTER (WHERE kind = 'handover' AND vehicle_id IS NULL)
               AS call_handover
    FROM new_events
    WHERE call_id IS NOT NULL
      AND kind IN ('call_received', 'call_answered', 'cancelled', 'centre_alerted',
                   'team_activated', 'dispatched', 'unassigned', 'departed', 'on_scene',
                   'patient_contact', 'left_scene', 'at_destination', 'handover')
    GROUP BY call_id
    ORDER BY call_id
    ON CONFLICT (call_id) DO UPDATE SET
        received = least(c.received, excluded.received),
        answered = least(c.answered, excluded.answered),
        cancelled = least(c.cancelled, excluded.cancelled),
        alerted = least(c.alerted, excluded.alerted),
        team = least(c.team, excluded.team),
        call_handover = least(c.call_handover, excluded.call_handover);
    IF NOT FOUND THEN
        RETURN NULL;  -- no clock among the new events (positions, recommendations, ...)
    END IF;

    -- 2. Vehicle rows: earliest source clock and earliest receipt per kind (rule 1).
    INSERT INTO call_vehicle_clocks AS v
    SELECT call_id, vehicle_id,
           min(occurred_at) FILTER (WHERE kind = 'dispatched') AS dispatched,
           min(data->>'station_id') FILTER (WHERE kind = 'dispatched') AS station_id,
           bool_or(kind = 'unassigned') AS unassigned,
           min(occurred_at) FILTER (WHERE kind = 'departed') AS departed_o,
           min(received_at) FILTER (WHERE kind = 'departed') AS departed_r,
           min(occurred_at) FILTER (WHERE kind = 'on_scene') AS on_scene_o,
           min(received_at) FILTER (WHERE kind = 'on_scene') AS on_scene_r,
           min(occurred_at) FILTER (WHERE kind = 'patient_contact') AS patient_contact_o,
           min(received_at) FILTER (WHERE kind = 'patient_contact') AS patient_contact_r,
           min(occurred_at) FILTER (WHERE kind = 'left_scene') AS left_scene_o,
           min(received_at) FILTER (WHERE kind = 'left_scene') AS left_scene_r,
           min(occurred_at) FILTER (WHERE kind = 'at_destination') AS at_destination_o,
           min(received_at) FILTER (WHERE kind = 'at_destination') AS at_destination_r,
           min(occurred_at) FILTER (WHERE kind = 'handover') AS handover_o,
           min(received_at) FILTER (WHERE kind = 'handover') AS handover_r
    FROM new_events
    WHERE call_id IS NOT NULL AND vehicle_id IS NOT NULL
      AND kind IN ('dispatched', 'unassigned', 'departed', 'on_scene', 'patient_contact',
                   'left_scene', 'at_destination', 'handover')
    GROUP BY call_id, vehicle_id
    ORDER BY call_id, vehicle_id
    ON CONFLICT (call_id, vehicle_id) DO UPDATE SET
        dispatched = least(v.dispatched, excluded.dispatched),
        station_id = least(v.station_id, excluded.station_id),
        unassigned = v.unassigned OR excluded.unassigned,
        departed_o = least(v.departed_o, excluded.departed_o),
        departed_r = least(v.departed_r, excluded.departed_r),
        on_scene_o = least(v.on_scene_o, excluded.on_scene_o),
        on_scene_r = least(v.on_scene_r, excluded.on_scene_r),
        patient_contact_o = least(v.patient_contact_o, excluded.patient_contact_o),
        patient_contact_r = least(v.patient_contact_r, excluded.patient_contact_r),
        left_scene_o = least(v.left_scene_o, excluded.left_scene_o),
        left_scene_r = least(v.left_scene_r, excluded.left_scene_r),
        at_destination_o = least(v.at_destination_o, excluded.at_destination_o),
        at_destination_r = least(v.at_destination_r, excluded.at_destination_r),
        handover_o = least(v.handover_o, excluded.handover_o),
        handover_r = least(v.handover_r, excluded.handover_r);
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;

    -- 3. Re-pick the vehicles of the calls whose vehicle rows changed. A fresh snapshot: it
    --    sees every fold of these calls committed before our row locks were granted. The
    --    ids go in as an array so the qual reaches the view's GROUP BY (an IN (SELECT ...)
    --    would aggregate the whole table first).
    changed := ARRAY(
        SELECT DISTINCT call_id FROM new_events
        WHERE call_id IS NOT NULL AND vehicle_id IS NOT NULL
          AND kind IN ('dispatched', 'unassigned', 'departed', 'on_scene', 'patient_contact',
                       'left_scene', 'at_destination', 'handover'));
    UPDATE call_clocks c SET
        first_order = d.first_order, contact = d.contact, repairs = d.repairs,
        cv_vehicle_id = d.cv_vehicle_id, cv_station_id = d.cv_station_id,
        cv_dispatched = d.cv_dispatched, cv_departed = d.cv_departed,
        fa_on_scene = d.fa_on_scene, fa_departed = d.fa_departed,
        tv_on_scene = d.tv_on_scene, tv_left_scene = d.tv_left_scene,
        tv_at_destination = d.tv_at_destination, tv_handover = d.tv_handover
    FROM call_clocks_derived d
    WHERE d.call_id = c.call_id AND d.call_id = ANY(changed);
    RETURN NULL;
END
$$;

-- Rebuild the cache of the given calls (NULL = every call) from their events.
CREATE FUNCTION call_clocks_rebuild(call_ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF call_ids IS NULL THEN
        LOCK TABLE call_clocks, call_vehicle_clocks IN EXCLUSIVE MODE;
        DELETE FROM call_vehicle_clocks;
        DELETE FROM call_clocks;
        INSERT INTO call_vehicle_clocks SELECT * FROM call_vehicle_clocks_from_events;
        INSERT INTO call_clocks (call_id, received, answered, cancelled, alerted, team,
                                 call_handover)
        SELECT * FROM call_clocks_from_events;
        UPDATE call_clocks c SET
            first_order = d.first_order, contact = d.contact, repairs = d.repairs,
        cv_vehicle_id = d.cv_vehicle_id, cv_station_id = d.cv_station_id,
        cv_dispatched = d.cv_dispatched, cv_departed = d.cv_departed,
        fa_on_scene = d.fa_on_scene, fa_departed = d.fa_departed,
        tv_on_scene = d.tv_on_scene, tv_left_scene = d.tv_left_scene,
        tv_at_destination = d.tv_at_destination, tv_handover = d.tv_handover
        FROM call_clocks_derived d
        WHERE d.call_id = c.call_id;
        RETURN;
    END IF;
    -- lock the calls' rows in order (as the fold does), drop them, refold their events
    PERFORM 1 FROM call_clocks WHERE call_id = ANY(call_ids) ORDER BY call_id FOR UPDATE;
    DELETE FROM call_vehicle_clocks WHERE call_id = ANY(call_ids);
    DELETE FROM call_clocks WHERE call_id = ANY(call_ids);
    INSERT INTO call_vehicle_clocks
    SELECT * FROM call_vehicle_clocks_from_events WHERE call_id = ANY(call_ids);
    INSERT INTO call_clocks (call_id, received, answered, cancelled, alerted, team,
                             call_handover)
    SELECT * FROM call_clocks_from_events WHERE call_id = ANY(call_ids);
    UPDATE call_clocks c SET
        first_order = d.first_order, contact = d.contact, repairs = d.repairs,
        cv_vehicle_id = d.cv_vehicle_id, cv_station_id = d.cv_station_id,
        cv_dispatched = d.cv_dispatched, cv_departed = d.cv_departed,
        fa_on_scene = d.fa_on_scene, fa_departed = d.fa_departed,
        tv_on_scene = d.tv_on_scene, tv_left_scene = d.tv_left_scene,
        tv_at_destination = d.tv_at_destination, tv_handover = d.tv_handover
    FROM call_clocks_derived d
    WHERE d.call_id = c.call_id AND d.call_id = ANY(call_ids);
END
$$;

-- Events are append-only by convention; should a row be corrected or removed anyway, its
-- calls are refolded, so the cache never disagrees with the timeline.
CREATE FUNCTION call_clocks_refold_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE call_vehicle_clocks, call_clocks;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM call_clocks_rebuild(ARRAY(
            SELECT call_id FROM old_events WHERE call_id IS NOT NULL
            UNION SELECT call_id FROM new_events WHERE call_id IS NOT NULL));
    ELSE
        PERFORM call_clocks_rebuild(ARRAY(
            SELECT DISTINCT call_id FROM old_events WHERE call_id IS NOT NULL));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_fold_call_clocks AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_fold_inserted();
CREATE TRIGGER events_refold_updated AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_events NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_refold_changed();
CREATE TRIGGER events_refold_deleted AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_refold_changed();
CREATE TRIGGER events_truncate_call_clocks AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_refold_changed();

-- Backfill from the events already recorded.
SELECT call_clocks_rebuild(NULL);
ANALYZE call_clocks;
