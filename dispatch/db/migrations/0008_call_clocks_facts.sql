-- call_clocks becomes the one row per call that the indicator query reads
-- (dispatch/metrics/queries.py), so a period of a million calls is one scan of one narrow
-- table, with no join to the wide `calls` rows and no jsonb to parse per call.
--
-- * The call's attributes that indicators group and filter by are copied from `calls` by a
--   trigger (they change on re-triage and re-routing; the copy follows every change).
-- * The intervals of intervals.py that do not depend on the indicator configuration are
--   generated columns over the row's own clocks: computed once when the fold writes the
--   row, not once per query. Pathway-only intervals and the departure interval are stored
--   unfiltered; the query applies the pathway and transport-class rules.
-- The clocks stay a pure function of `events` (migration 0007); the attributes a pure
-- function of `calls`. Both are rebuilt by call_clocks_rebuild.

-- Span start -> end in seconds; NULL if either is missing or end precedes start (rule 3).
-- date_part (float8) rather than extract (numeric, ~15x slower), exact for spans under a day.
CREATE FUNCTION call_clocks_span(start_at timestamptz, end_at timestamptz)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN end_at >= start_at THEN date_part('epoch', end_at - start_at) END
$$;

ALTER TABLE call_clocks
    ADD COLUMN received_at      timestamptz,   -- calls.received_at: the period filter
    ADD COLUMN acuity           smallint,
    ADD COLUMN transport_class  text,
    ADD COLUMN pathway          text,
    ADD COLUMN district_id      text,
    ADD COLUMN destination_id   text,
    ADD COLUMN booked_to        timestamptz,
    ADD COLUMN flags            text[] NOT NULL DEFAULT '{}',  -- triage flags set to true
    ADD COLUMN call_response_s  float8 GENERATED ALWAYS AS
        (call_clocks_span(received, answered)) STORED,
    ADD COLUMN processing_s     float8 GENERATED ALWAYS AS
        (call_clocks_span(answered, first_order)) STORED,
    ADD COLUMN turnout_s        float8 GENERATED ALWAYS AS
        (call_clocks_span(cv_dispatched, cv_departed)) STORED,
    -- the 3-minute departure counted from the answer (only for a call with a counted vehicle)
    ADD COLUMN answer_to_departure_s float8 GENERATED ALWAYS AS
        (CASE WHEN cv_dispatched IS NOT NULL THEN call_clocks_span(answered, cv_departed) END)
        STORED,
    ADD COLUMN response_s       float8 GENERATED ALWAYS AS
        (call_clocks_span(answered, fa_on_scene)) STORED,
    ADD COLUMN travel_s         float8 GENERATED ALWAYS AS
        (call_clocks_span(fa_departed, fa_on_scene)) STORED,
    ADD COLUMN on_scene_s       float8 GENERATED ALWAYS AS
        (call_clocks_span(tv_on_scene, tv_left_scene)) STORED,
    ADD COLUMN transport_s      float8 GENERATED ALWAYS AS
        (call_clocks_span(tv_left_scene, tv_at_destination)) STORED,
    ADD COLUMN offload_s        float8 GENERATED ALWAYS AS
        (call_clocks_span(tv_at_destination, coalesce(tv_handover, call_handover))) STORED,
    ADD COLUMN alert_lead_s     float8 GENERATED ALWAYS AS
        (CASE WHEN alerted < tv_at_destination
              THEN call_clocks_span(alerted, tv_at_destination) END) STORED,
    -- may be negative: a team activated after the patient arrived
    ADD COLUMN team_to_arrival_s float8 GENERATED ALWAYS AS
        (date_part('epoch', tv_at_destination - team)) STORED,
    ADD COLUMN contact_to_arrival_s float8 GENERATED ALWAYS AS
        (call_clocks_span(contact, tv_at_destination)) STORED;

CREATE INDEX call_clocks_received_at ON call_clocks (received_at);

-- The triage flags set to true, sorted (calls.triage->'flags').
CREATE FUNCTION call_clocks_flags(triage jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(triage->'flags') = 'object' THEN
                ARRAY(SELECT key FROM jsonb_each(triage->'flags')
                      WHERE value = 'true'::jsonb ORDER BY key)
           ELSE '{}'::text[] END
$$;

-- The attributes of the given calls, copied into their rows. The ids are joined, not
-- tested with `= ANY`: the function's plan is generic, and the join keeps it an index
-- lookup per id whatever the array holds.
-- plpgsql, not sql: its plan is cached for the session instead of made at every call.
CREATE FUNCTION call_clocks_copy_attributes(call_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_clocks AS c (call_id, received_at, acuity, transport_class, pathway,
                                  district_id, destination_id, booked_to, flags)
    SELECT k.id, k.received_at, k.acuity, k.transport_class, k.pathway, k.district_id,
           k.destination_id, k.booked_to, call_clocks_flags(k.triage)
    FROM unnest(call_ids) AS i(id)
    JOIN calls k ON k.id = i.id
    ORDER BY k.id
    ON CONFLICT (call_id) DO UPDATE SET
        received_at = excluded.received_at, acuity = excluded.acuity,
        transport_class = excluded.transport_class, pathway = excluded.pathway,
        district_id = excluded.district_id, destination_id = excluded.destination_id,
        booked_to = excluded.booked_to, flags = excluded.flags
    -- a row already holding these values is not rewritten (no new version, no re-fold)
    WHERE (c.received_at, c.acuity, c.transport_class, c.pathway, c.district_id,
           c.destination_id, c.booked_to, c.flags)
          IS DISTINCT FROM
          (excluded.received_at, excluded.acuity, excluded.transport_class, excluded.pathway,
           excluded.district_id, excluded.destination_id, excluded.booked_to, excluded.flags);
END
$$;

-- New calls: once per statement (COPY and multi-row inserts pay once).
CREATE FUNCTION call_clocks_add_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM call_clocks_copy_attributes(ARRAY(SELECT id FROM new_calls));
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_copy_to_call_clocks AFTER INSERT ON calls
    REFERENCING NEW TABLE AS new_calls
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_add_calls();

-- Changed attributes: per row, and only when one of them changed (the WHEN is evaluated
-- without calling the function, so status updates cost nothing here). The row lock on
-- call_clocks is taken while the calls row is held, the order a status change followed by
-- its events takes them too.
CREATE FUNCTION call_clocks_follow_call() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM call_clocks_copy_attributes(ARRAY[NEW.id]);
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_update_call_clocks
    AFTER UPDATE OF received_at, acuity, transport_class, pathway, district_id,
                    destination_id, booked_to, triage ON calls
    FOR EACH ROW
    WHEN ((OLD.received_at, OLD.acuity, OLD.transport_class, OLD.pathway, OLD.district_id,
           OLD.destination_id, OLD.booked_to, OLD.triage->'flags')
          IS DISTINCT FROM
          (NEW.received_at, NEW.acuity, NEW.transport_class, NEW.pathway, NEW.district_id,
           NEW.destination_id, NEW.booked_to, NEW.triage->'flags'))
    EXECUTE FUNCTION call_clocks_follow_call();

CREATE FUNCTION call_clocks_forget_calls() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_clocks WHERE call_id IN (SELECT id FROM old_calls);
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_delete_call_clocks AFTER DELETE ON calls
    REFERENCING OLD TABLE AS old_calls
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_forget_calls();

-- The rebuild (0007) drops and refolds rows; the attributes are copied back after it.
ALTER FUNCTION call_clocks_rebuild(uuid[]) RENAME TO call_clocks_rebuild_clocks;

CREATE FUNCTION call_clocks_rebuild(call_ids uuid[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM call_clocks_rebuild_clocks(call_ids);
    PERFORM call_clocks_copy_attributes(coalesce(call_ids, ARRAY(SELECT id FROM calls)));
END
$$;

-- TRUNCATE events: every clock is gone, the calls' attributes stay.
CREATE FUNCTION call_clocks_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE call_vehicle_clocks, call_clocks;
    PERFORM call_clocks_copy_attributes(ARRAY(SELECT id FROM calls));
    RETURN NULL;
END
$$;

DROP TRIGGER events_truncate_call_clocks ON events;
CREATE TRIGGER events_truncate_call_clocks AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION call_clocks_truncated();

-- Backfill the attributes of the calls already recorded.
SELECT call_clocks_copy_attributes(ARRAY(SELECT id FROM calls));
ANALYZE call_clocks;
