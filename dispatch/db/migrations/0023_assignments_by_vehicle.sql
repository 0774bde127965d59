-- A claim never dates an assignment before the clearing that freed its vehicle: it reads
-- the vehicle's last released_at, by this index rather than a scan of every assignment.
CREATE INDEX assignments_vehicle_released ON assignments (vehicle_id, released_at);
