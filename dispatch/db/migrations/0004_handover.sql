-- The handover's real-time layer: crew messages, handover state per (call, centre),
-- team activations, diversion history, and an outbox for alerts raised inside other
-- transactions (published to Redis only after they commit).

-- Every crew frame that matters (vitals, ECG, stroke, injuries, treatment, status,
-- requests). (vehicle_id, msg_id) makes a tablet's resend after a reconnect harmless.
CREATE TABLE crew_messages (
    id           bigserial PRIMARY KEY,
    vehicle_id   text NOT NULL REFERENCES vehicles(id),
    msg_id       text NOT NULL,
    call_id      uuid NOT NULL REFERENCES calls(id),
    kind         text NOT NULL,              -- the frame's type
    occurred_at  timestamptz NOT NULL,       -- the tablet's clock ("at")
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    body         jsonb NOT NULL,             -- the validated frame
    UNIQUE (vehicle_id, msg_id)
);
CREATE INDEX crew_messages_call ON crew_messages (call_id, kind, occurred_at);

-- Screens reconnect and resend too: the same idempotency for the hospital side.
CREATE TABLE hospital_messages (
    id           bigserial PRIMARY KEY,
    hospital_id  text NOT NULL REFERENCES hospitals(id),
    msg_id       text NOT NULL,
    call_id      uuid REFERENCES calls(id),
    kind         text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    body         jsonb NOT NULL,
    UNIQUE (hospital_id, msg_id)
);

-- dispatch.handover.state.HandoverState of one patient and one receiving centre.
CREATE TABLE handovers (
    call_id      uuid NOT NULL REFERENCES calls(id),
    hospital_id  text NOT NULL REFERENCES hospitals(id),
    phase        text NOT NULL,
    state        jsonb NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (call_id, hospital_id)
);
-- a centre's inbound board: the patients it may see now
CREATE INDEX handovers_inbound ON handovers (hospital_id)
    WHERE phase IN ('alerted', 'acknowledged', 'arrived');

CREATE TABLE team_activations (
    call_id          uuid NOT NULL REFERENCES calls(id),
    hospital_id      text NOT NULL REFERENCES hospitals(id),
    team             text NOT NULL,
    activated_at     timestamptz NOT NULL,
    requested_by     jsonb NOT NULL,
    acknowledged_at  timestamptz,
    PRIMARY KEY (call_id, hospital_id, team)
);

-- Diversion as declared by each centre (hospitals.diversion holds the current set).
CREATE TABLE hospital_diversions (
    id           bigserial PRIMARY KEY,
    hospital_id  text NOT NULL REFERENCES hospitals(id),
    capability   text NOT NULL,
    diverting    boolean NOT NULL,
    until        timestamptz,
    declared_by  text NOT NULL,
    declared_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX hospital_diversions_hospital ON hospital_diversions (hospital_id, declared_at);

-- Messages to publish once the transaction that wrote them commits (transactional outbox).
CREATE TABLE handover_outbox (
    id       bigserial PRIMARY KEY,
    topic    text NOT NULL,
    payload  jsonb NOT NULL
);
