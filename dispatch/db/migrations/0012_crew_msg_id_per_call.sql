-- A crew frame's msg_id identifies it within its call, not for the vehicle's whole life.
--
-- Tablets number their frames per mission (or restart their counter with the app): under
-- UNIQUE (vehicle_id, msg_id), the first frame of a later call that reused an id was
-- taken for a resend of the old one, acknowledged with the old row and never stored.
-- A resend is now the same (vehicle, call, msg_id); one whose content differs from the
-- stored frame is refused (dispatch.handover.service), never acknowledged.
ALTER TABLE crew_messages DROP CONSTRAINT IF EXISTS crew_messages_vehicle_id_msg_id_key;
ALTER TABLE crew_messages
    ADD CONSTRAINT crew_messages_vehicle_call_msg UNIQUE (vehicle_id, call_id, msg_id);
