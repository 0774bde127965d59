-- Crew frames at 1 Hz per ambulance, without row locks on the vehicle and the call.
--
-- A foreign key check locks the referenced row (FOR KEY SHARE), and that lock is written
-- to the row itself: every stored vitals frame locked its vehicle's row, which the same
-- crew's position ping updates a second later, so the two made a MultiXact of nearly
-- every ping (PostgreSQL spent ~100 us per stored frame and per position). The frames
-- are checked where they are written instead: a finding is stored only while its vehicle
-- is assigned to its call (dispatch.handover.repo.insert_crew_messages), a status only
-- for a vehicle and call that exist (dispatch.handover.service), and vehicles and calls
-- are never deleted.
ALTER TABLE crew_messages
    DROP CONSTRAINT IF EXISTS crew_messages_vehicle_id_fkey,
    DROP CONSTRAINT IF EXISTS crew_messages_call_id_fkey;

-- A position ping rewrites the vehicle's row every second: room on its page lets the new
-- version stay there (a HOT update: no index entries, pruned without VACUUM).
ALTER TABLE vehicles SET (fillfactor = 50);
