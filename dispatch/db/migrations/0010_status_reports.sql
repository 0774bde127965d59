-- A status report that names itself (report_id, the client's id for it) is applied once:
-- a repeat is answered with the first report's result, whatever the vehicle did since
-- (a tablet resending "available" after the queue gave the vehicle its next call must not
-- clear that call). The fingerprint tells a repeat from another report reusing the id.
CREATE TABLE status_reports (
    vehicle_id  text NOT NULL,
    report_id   text NOT NULL,
    fingerprint text NOT NULL,
    result      jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, report_id)
);
