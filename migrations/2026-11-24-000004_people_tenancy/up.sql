-- People and tenancy (DESIGN.md §2, §6): sign-in sessions with rotating refresh tokens,
-- invitations, the audit log, and row-level security on every tenant table.

-- A signed-in browser or CLI. Its id is the `sid` of every access token minted for it,
-- so revoking the session (logout, or a replayed refresh token) ends them all at once.
CREATE TABLE user_sessions (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'web' (OAuth redirect), 'device' (CLI device flow) or 'dev' (development sign-in).
    method text NOT NULL CHECK (method IN ('web', 'device', 'dev')),
    user_agent text,
    source_ip text,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoke_reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);

-- One refresh token of a session's rotation chain; only its SHA-256 is stored. A token
-- is used once: presenting a used one again revokes the whole session.
CREATE TABLE refresh_tokens (
    id uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    used_at timestamptz,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- An invitation to an org, for a GitHub login or an email address, accepted once through
-- its secret (only the hash is stored) before it expires.
CREATE TABLE invitations (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    github_login text CHECK (github_login ~ '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$'),
    email text CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    token_hash bytea NOT NULL UNIQUE,
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(github_login, email) = 1)
);
CREATE INDEX invitations_org_idx ON invitations (org_id, created_at);

-- Who changed what in an org: every state-changing request, with its outcome.
CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_type text NOT NULL CHECK (actor_type IN ('user', 'token', 'github', 'system')),
    actor_id uuid,
    -- The actor's login or token name at the time, kept after the actor is gone.
    actor_label text NOT NULL,
    -- `resource.verb`, e.g. `tasks.update`.
    action text NOT NULL,
    target_type text,
    target_id text,
    method text NOT NULL,
    path text NOT NULL,
    status integer NOT NULL,
    source_ip text,
    request_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_org_idx ON audit_events (org_id, created_at DESC, id DESC);

CREATE TRIGGER user_sessions_touch BEFORE UPDATE ON user_sessions FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER refresh_tokens_touch BEFORE UPDATE ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER invitations_touch BEFORE UPDATE ON invitations FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER audit_events_touch BEFORE UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();

-- Row-level security. The services connect as `switchyard_app`, which does not own the
-- tables, and name their tenant on every connection checkout (`shared::db::Db`):
-- `switchyard.org_id` for a request acting in one org, or `switchyard.system = on` for
-- the cross-org work of the scheduler, the workers and sign-in. A connection that set
-- neither sees no tenant row at all, so a query missing its org filter cannot leak.
CREATE FUNCTION switchyard_current_org() RETURNS uuid LANGUAGE sql STABLE AS
    $$ SELECT nullif(current_setting('switchyard.org_id', true), '')::uuid $$;
CREATE FUNCTION switchyard_system_scope() RETURNS boolean LANGUAGE sql STABLE AS
    $$ SELECT coalesce(current_setting('switchyard.system', true), '') = 'on' $$;

DO $$
DECLARE
    t text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchyard_app') THEN
        CREATE ROLE switchyard_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant ON organizations
        USING (switchyard_system_scope() OR id = switchyard_current_org())
        WITH CHECK (switchyard_system_scope() OR id = switchyard_current_org());
    FOREACH t IN ARRAY ARRAY['memberships', 'invitations', 'api_tokens', 'repositories',
        'projects', 'tasks', 'task_attempts', 'execution_processes', 'executor_profiles',
        'org_secrets', 'audit_events']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant ON %I
            USING (switchyard_system_scope() OR org_id = switchyard_current_org())
            WITH CHECK (switchyard_system_scope() OR org_id = switchyard_current_org())', t);
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO switchyard_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO switchyard_app;
REVOKE ALL ON __diesel_schema_migrations FROM switchyard_app;
-- Audit events are append-only for the services.
REVOKE UPDATE, DELETE ON audit_events FROM switchyard_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO switchyard_app;
