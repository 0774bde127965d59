-- Non-emergency transport bookings planned onto the non-emergency fleet (mission R5).
CREATE TABLE booked_trips (
    call_id      uuid PRIMARY KEY REFERENCES calls(id),
    vehicle_id   text NOT NULL REFERENCES vehicles(id),
    status       text NOT NULL DEFAULT 'planned'
                 CHECK (status IN ('planned', 'dispatched', 'cancelled')),
    depart_at    timestamptz NOT NULL,
    pickup_at    timestamptz NOT NULL,
    dropoff_at   timestamptz NOT NULL,
    pickup_lon   double precision NOT NULL,
    pickup_lat   double precision NOT NULL,
    dest_lon     double precision NOT NULL,
    dest_lat     double precision NOT NULL,
    plan         jsonb NOT NULL,
    planned_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booked_trips_vehicle ON booked_trips (vehicle_id, pickup_at) WHERE status = 'planned';
CREATE INDEX booked_trips_due ON booked_trips (depart_at) WHERE status = 'planned';
