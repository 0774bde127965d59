-- Indicators (dispatch/metrics/queries.py) over large periods.

-- The period filter: calls received in [start, end).
CREATE INDEX IF NOT EXISTS calls_received_at ON calls (received_at);

-- One pass over a call's events grouped by (call, vehicle); INCLUDE lets the scan come
-- straight from the index in group order without a sort.
CREATE INDEX IF NOT EXISTS events_call_vehicle_clock ON events (call_id, vehicle_id)
    INCLUDE (kind, occurred_at, received_at);

-- Row types for picking one vehicle per call inside a plain GROUP BY: min() over
-- ARRAY[ROW(time, vehicle_id, ...)::type] compares records field by field, so the minimum is
-- the earliest vehicle (ties by vehicle id) with its other clocks, with no per-call sort.
CREATE TYPE metrics_counted_vehicle AS (
    dispatched timestamptz, vehicle_id text, departed timestamptz, station_id text
);
CREATE TYPE metrics_first_arriving AS (
    on_scene timestamptz, vehicle_id text, departed timestamptz
);
CREATE TYPE metrics_transporting AS (
    left_scene timestamptz, vehicle_id text, on_scene timestamptz,
    at_destination timestamptz, handover timestamptz
);
