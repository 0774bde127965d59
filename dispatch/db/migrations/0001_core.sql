-- Core record of the dispatch centre. PostgreSQL is the record; Redis only mirrors live state.

CREATE TABLE districts (
    id          text PRIMARY KEY,            -- GB/T 2260 code, e.g. 156320104
    name        text NOT NULL,
    area_type   text NOT NULL DEFAULT 'urban' CHECK (area_type IN ('urban', 'suburban', 'rural')),
    geometry    jsonb NOT NULL,              -- GeoJSON (Multi)Polygon, WGS-84
    synthetic   boolean NOT NULL DEFAULT false
);

CREATE TABLE stations (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    district_id text REFERENCES districts(id),
    lon         double precision NOT NULL,
    lat         double precision NOT NULL,
    synthetic   boolean NOT NULL DEFAULT false
);

CREATE TABLE vehicles (
    id            text PRIMARY KEY,
    call_sign     text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('als', 'bls', 'net')),
    station_id    text REFERENCES stations(id),
    capabilities  text[] NOT NULL DEFAULT '{}',
    crew_count    smallint NOT NULL DEFAULT 2,
    status        text NOT NULL DEFAULT 'available',
    call_id       uuid,                      -- the call it is committed to, if any
    lon           double precision,
    lat           double precision,
    position_at   timestamptz,
    status_at     timestamptz NOT NULL DEFAULT now(),
    synthetic     boolean NOT NULL DEFAULT false
);
CREATE INDEX vehicles_status_kind ON vehicles (status, kind);

CREATE TABLE hospitals (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    district_id   text REFERENCES districts(id),
    lon           double precision NOT NULL,
    lat           double precision NOT NULL,
    -- pci, thrombolysis, thrombectomy, maternal, paediatric, neonatal, trauma
    capabilities  text[] NOT NULL DEFAULT '{}',
    trauma_level  smallint CHECK (trauma_level BETWEEN 1 AND 3),
    diversion     text[] NOT NULL DEFAULT '{}',   -- capabilities the hospital is diverting
    synthetic     boolean NOT NULL DEFAULT false
);

CREATE TABLE calls (
    id               uuid PRIMARY KEY,
    idempotency_key  text UNIQUE,
    caller_number    text NOT NULL,
    complaint        text NOT NULL DEFAULT '',
    answers          jsonb NOT NULL DEFAULT '{}',
    status           text NOT NULL,
    acuity           smallint NOT NULL CHECK (acuity BETWEEN 1 AND 4),
    transport_class  text NOT NULL,
    pathway          text,
    triage           jsonb NOT NULL,
    required_kinds   text[] NOT NULL,
    lon              double precision,
    lat              double precision,
    radius_m         double precision,
    location         jsonb,                  -- the fused estimate with the fixes used
    district_id      text,
    booked_from      timestamptz,            -- non-emergency booking window
    booked_to        timestamptz,
    destination_id   text REFERENCES hospitals(id),
    received_at      timestamptz NOT NULL,
    answered_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- the live queue: acuity first, then age
CREATE INDEX calls_queue ON calls (acuity, received_at) WHERE status = 'queued';
CREATE INDEX calls_caller_live ON calls (caller_number, received_at DESC)
    WHERE status IN ('queued', 'assigned', 'active');

CREATE TABLE fixes (
    id            bigserial PRIMARY KEY,
    call_id       uuid NOT NULL REFERENCES calls(id),
    source        text NOT NULL,
    coord_system  text NOT NULL,
    raw_lon       double precision NOT NULL,
    raw_lat       double precision NOT NULL,
    lon           double precision NOT NULL,  -- WGS-84
    lat           double precision NOT NULL,
    accuracy_m    double precision NOT NULL,
    observed_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fixes_call ON fixes (call_id, id);

-- Append-only timeline: the truth of time. occurred_at is the source's clock,
-- received_at ours.
CREATE TABLE events (
    id           bigserial PRIMARY KEY,
    call_id      uuid REFERENCES calls(id),
    vehicle_id   text REFERENCES vehicles(id),
    kind         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    data         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_call ON events (call_id, occurred_at);
CREATE INDEX events_kind_time ON events (kind, occurred_at);
CREATE INDEX events_vehicle ON events (vehicle_id, occurred_at) WHERE vehicle_id IS NOT NULL;

CREATE TABLE assignments (
    id           bigserial PRIMARY KEY,
    call_id      uuid NOT NULL REFERENCES calls(id),
    vehicle_id   text NOT NULL REFERENCES vehicles(id),
    assigned_at  timestamptz NOT NULL,
    released_at  timestamptz,
    eta_s        double precision,
    distance_m   double precision,
    reason       jsonb NOT NULL DEFAULT '{}',
    assigned_by  text NOT NULL
);
-- one vehicle, one call: a second live assignment of a vehicle cannot exist
CREATE UNIQUE INDEX assignments_one_live_per_vehicle ON assignments (vehicle_id)
    WHERE released_at IS NULL;
CREATE INDEX assignments_call ON assignments (call_id);

CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor        text NOT NULL,
    role         text NOT NULL,
    action       text NOT NULL,
    call_id      uuid,
    vehicle_id   text,
    hospital_id  text,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_call ON audit_log (call_id, at);
