-- Hospital capacity beside diversion (issue 20, item 6): what the ED can take now and
-- which of its capabilities are unavailable for the moment (cath lab busy, CT down), as
-- each centre reports it. Destination choice treats an unavailable capability like a
-- diversion of it and prefers an ED with room (dispatch.triage.destination).
ALTER TABLE hospitals
    ADD COLUMN ed_beds_available integer CHECK (ed_beds_available >= 0),  -- NULL: not reported
    ADD COLUMN ed_at_capacity    boolean NOT NULL DEFAULT false,
    ADD COLUMN unavailable       jsonb NOT NULL DEFAULT '{}',  -- capability -> reason given
    ADD COLUMN capacity_at       timestamptz,                  -- the latest report
    ADD COLUMN capacity_by       text;

-- Every capacity report, the centre's timeline of them (hospital_diversions holds the
-- diversions'): what was reported and the capacity it left.
CREATE TABLE hospital_capacity_events (
    id           bigserial PRIMARY KEY,
    hospital_id  text NOT NULL REFERENCES hospitals(id),
    report       jsonb NOT NULL,
    capacity     jsonb NOT NULL,
    reported_by  text NOT NULL,
    reported_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX hospital_capacity_events_hospital ON hospital_capacity_events (hospital_id, reported_at);
