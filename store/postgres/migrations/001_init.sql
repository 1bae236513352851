-- Tasks and the spending ledger of one account. Every name is prefixed:
-- the schema may be shared with other applications (public, by default).
-- COLLATE "C": task ids and owners compare and sort bytewise, as in Go, and
-- as the file store does, whatever the database's locale.

CREATE TABLE aipaint_tasks (
    task_id      text COLLATE "C" PRIMARY KEY,
    owner        text COLLATE "C" NOT NULL DEFAULT '',
    status       text NOT NULL,
    submitted_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    -- The whole store.Record as JSON (json, not jsonb: jsonb rejects \u0000,
    -- which a prompt may hold). The columns above are copies for queries.
    record       json NOT NULL,
    -- The replica following the task, until when (store.Leaser).
    lease_holder text,
    lease_until  timestamptz
);
CREATE INDEX aipaint_tasks_newest ON aipaint_tasks (submitted_at DESC, task_id DESC);
CREATE INDEX aipaint_tasks_owner_newest ON aipaint_tasks (owner, submitted_at DESC, task_id DESC);
CREATE INDEX aipaint_tasks_updated ON aipaint_tasks (updated_at);
CREATE INDEX aipaint_tasks_pending ON aipaint_tasks (submitted_at) WHERE status = 'pending';

-- One row per reservation; outcome NULL while its submit is in flight.
-- Released reservations do not count; 'task' and 'unknown' (may have been
-- billed) do.
CREATE TABLE aipaint_reservations (
    id          bigserial PRIMARY KEY,
    owner       text COLLATE "C" NOT NULL DEFAULT '',
    request_key text NOT NULL,
    images      integer NOT NULL,
    reserved_at timestamptz NOT NULL,
    outcome     text CHECK (outcome IN ('task', 'released', 'unknown')),
    task_id     text COLLATE "C",
    ended_at    timestamptz
);
CREATE INDEX aipaint_reservations_at ON aipaint_reservations (reserved_at);
CREATE INDEX aipaint_reservations_same ON aipaint_reservations (owner, request_key, reserved_at DESC);
