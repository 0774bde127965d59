-- People who sign in to the screens: a dispatcher, a crew (bound to one vehicle), a
-- receiving centre's staff (bound to one hospital) or an admin. The password is kept only
-- as an argon2id hash (dispatch.users); the binding is what goes into their tokens.
CREATE TABLE users (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    role          text NOT NULL CHECK (role IN ('dispatcher', 'crew', 'hospital', 'admin')),
    vehicle_id    text REFERENCES vehicles (id),
    hospital_id   text REFERENCES hospitals (id),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'crew') = (vehicle_id IS NOT NULL)),
    CHECK ((role = 'hospital') = (hospital_id IS NOT NULL))
);
