-- The pre-alert and team leads count at the centre the patient reached (rule 1 of
-- dispatch/metrics/intervals.py): call_clocks.alerted and .team are the earliest alert and
-- team activation at any centre, so an alert to a centre later dropped by re-routing
-- counted as the patient's pre-alert. dest_alerted and dest_team are the earliest of those
-- events at the call's destination (an event naming no centre counts for any). They
-- depend on the events and on calls.destination_id, so they are recomputed when either
-- changes: after an insert of such events, after a change of destination, and by the
-- rebuild. Still a pure function of `events` and `calls`.

ALTER TABLE call_clocks
    ADD COLUMN dest_alerted timestamptz,
    ADD COLUMN dest_team    timestamptz;

-- The destination clocks of the given calls, from their events (index events_call) and
-- the destination copied into call_clocks. A row already holding them is not rewritten.
CREATE FUNCTION call_clocks_destination_clocks(call_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE call_clocks c SET dest_alerted = d.alerted, dest_team = d.team
    FROM (
        SELECT k.call_id,
               min(e.occurred_at) FILTER (WHERE e.kind = 'centre_alerted') AS alerted,
               min(e.occurred_at) FILTER (WHERE e.kind = 'team_activated') AS team
        FROM unnest(call_ids) AS i(id)
        JOIN call_clocks k ON k.call_id = i.id
        LEFT JOIN events e
               ON e.call_id = k.call_id
              AND e.kind IN ('centre_alerted', 'team_activated')
              AND (e.data->>'hospital_id' IS NULL
                   OR e.data->>'hospital_id' = k.destination_id)
        GROUP BY k.call_id
    ) d
    WHERE c.call_id = d.call_id
      AND (c.dest_alerted, c.dest_team) IS DISTINCT FROM (d.alerted, d.team);
END
$$;

-- New centre events: after the fold (triggers fire in name order, and
-- events_fold_call_clocks has created and locked the calls' rows by then).
CREATE FUNCTION call_clocks_fold_destination() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid[];
BEGIN
    changed := ARRAY(
        SELECT DISTINCT call_id FROM new_events
        WHERE call_id IS NOT NULL AND kind IN ('centre_alerted', 'team_activated')
        ORDER BY call_id);
    IF cardinality(changed) > 0 THEN
        PERFORM call_clocks_destination_clocks(changed);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER events_fold_destination_clocks AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_fold_destination();

-- A changed destination (re-routing): the attributes are copied, then the clocks follow.
CREATE OR REPLACE FUNCTION call_clocks_follow_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM call_clocks_copy_attributes(ARRAY[NEW.id]);
    IF OLD.destination_id IS DISTINCT FROM NEW.destination_id THEN
        PERFORM call_clocks_destination_clocks(ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END
$$;

-- The rebuild refolds the clocks, copies the attributes, then derives these two.
CREATE OR REPLACE FUNCTION call_clocks_rebuild(call_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM call_clocks_rebuild_clocks(call_ids);
    PERFORM call_clocks_copy_attributes(coalesce(call_ids, ARRAY(SELECT id FROM calls)));
    PERFORM call_clocks_destination_clocks(
        coalesce(call_ids, ARRAY(SELECT call_id FROM call_clocks)));
END
$$;

-- The leads read the destination clocks (generated columns cannot be altered in place).
ALTER TABLE call_clocks
    DROP COLUMN alert_lead_s,
    DROP COLUMN team_to_arrival_s,
    ADD COLUMN alert_lead_s float8 GENERATED ALWAYS AS
        (CASE WHEN dest_alerted < tv_at_destination
              THEN call_clocks_span(dest_alerted, tv_at_destination) END) STORED,
    -- may be negative: a team activated after the patient arrived
    ADD COLUMN team_to_arrival_s float8 GENERATED ALWAYS AS
        (date_part('epoch', tv_at_destination - dest_team)) STORED;

-- Backfill the calls already recorded.
SELECT call_clocks_destination_clocks(ARRAY(SELECT call_id FROM call_clocks));
ANALYZE call_clocks;

-- Move-up (POST /v1/coverage/moves/accept) posts an available vehicle at another station:
-- station_id is where the vehicle is posted now, so everything derived from it (the
-- station's district that the vehicle covers, the station a dispatch is attributed to)
-- follows the move. home_station_id keeps its base from the reference data, which a
-- move-up does not change.
ALTER TABLE vehicles ADD COLUMN home_station_id text REFERENCES stations(id);
UPDATE vehicles SET home_station_id = station_id;
