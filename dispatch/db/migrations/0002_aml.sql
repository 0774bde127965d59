-- AML (ETSI TS 103 625) messages from the carrier gateway, kept as received. A message
-- that arrives before its call exists waits here (call_id NULL) and is attached at intake.
CREATE TABLE aml_messages (
    id             bigserial PRIMARY KEY,
    caller_number  text NOT NULL,          -- normalised (dispatch.phone.normalise_number)
    call_id        uuid REFERENCES calls(id),
    form           text NOT NULL CHECK (form IN ('sms', 'https')),
    raw            text NOT NULL,
    lon            double precision NOT NULL,
    lat            double precision NOT NULL,
    accuracy_m     double precision NOT NULL,
    source         text NOT NULL,
    observed_at    timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX aml_messages_pending ON aml_messages (caller_number, received_at)
    WHERE call_id IS NULL;
