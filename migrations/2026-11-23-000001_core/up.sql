-- Core tenancy and execution pipeline schema (DESIGN.md §2).
-- Every tenant row carries org_id; statuses are checked text so the Rust enums stay the
-- single definition of the state machines.

CREATE FUNCTION switchyard_touch_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE organizations (
    id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    max_concurrent_attempts integer NOT NULL DEFAULT 4 CHECK (max_concurrent_attempts > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    github_id bigint UNIQUE,
    login text NOT NULL UNIQUE,
    name text,
    email text,
    avatar_url text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, user_id)
);

CREATE TABLE api_tokens (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name text NOT NULL,
    -- The first characters of the token, shown in listings so people can tell tokens apart.
    prefix text NOT NULL,
    -- SHA-256 of the whole token; the token itself is shown once and never stored.
    token_hash bytea NOT NULL UNIQUE,
    scopes text[] NOT NULL DEFAULT '{read,write,runs}',
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_org_idx ON api_tokens (org_id);

CREATE TABLE repositories (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name text NOT NULL,
    -- A git URL, or for the embedded default a path to a local repository.
    url text NOT NULL,
    default_branch text NOT NULL DEFAULT 'main',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, url)
);

CREATE TABLE projects (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    repository_id uuid NOT NULL REFERENCES repositories (id) ON DELETE RESTRICT,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Task keys read PREFIX-NUMBER, e.g. SY-42.
    key_prefix text NOT NULL CHECK (key_prefix ~ '^[A-Z][A-Z0-9]{0,9}$'),
    task_counter bigint NOT NULL DEFAULT 0,
    default_branch text NOT NULL,
    setup_script text,
    cleanup_script text,
    dev_script text,
    default_executor text NOT NULL DEFAULT 'script',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_org_idx ON projects (org_id, created_at);

CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    number bigint NOT NULL,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    description text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'todo'
        CHECK (status IN ('todo', 'inprogress', 'inreview', 'done', 'cancelled')),
    -- Order within a board column; fractional so a move rewrites one row.
    position double precision NOT NULL DEFAULT 0,
    priority text NOT NULL DEFAULT 'none'
        CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
    labels text[] NOT NULL DEFAULT '{}',
    assignee_ids uuid[] NOT NULL DEFAULT '{}',
    parent_task_id uuid REFERENCES tasks (id) ON DELETE SET NULL,
    origin text NOT NULL DEFAULT 'api' CHECK (origin IN ('ui', 'api', 'github')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, number)
);
CREATE INDEX tasks_board_idx ON tasks (org_id, project_id, status, position);

CREATE TABLE task_attempts (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    executor text NOT NULL,
    base_branch text NOT NULL,
    branch text NOT NULL,
    base_commit text,
    head_commit text,
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'scheduled', 'running', 'succeeded', 'failed', 'cancelled')),
    -- Set by the api when someone asks to stop; the worker polls it with its heartbeat.
    stop_requested boolean NOT NULL DEFAULT false,
    worker_id text,
    lease_expires_at timestamptz,
    retry_count integer NOT NULL DEFAULT 0,
    max_retries integer NOT NULL DEFAULT 2,
    failure_reason text,
    diff_summary jsonb,
    diff_object_key text,
    pr_url text,
    pr_state text,
    -- W3C traceparent of the request that started (or followed up) the attempt.
    trace_context text,
    queued_at timestamptz NOT NULL DEFAULT now(),
    scheduled_at timestamptz,
    started_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX task_attempts_task_idx ON task_attempts (task_id, created_at);
CREATE INDEX task_attempts_queue_idx ON task_attempts (status, queued_at)
    WHERE status IN ('queued', 'scheduled', 'running');
CREATE INDEX task_attempts_org_active_idx ON task_attempts (org_id)
    WHERE status IN ('scheduled', 'running');

CREATE TABLE execution_processes (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    attempt_id uuid NOT NULL REFERENCES task_attempts (id) ON DELETE CASCADE,
    run_reason text NOT NULL
        CHECK (run_reason IN ('setupscript', 'codingagent', 'followup', 'cleanupscript', 'devserver')),
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'killed')),
    -- What the executor is given: the script for `script`, the prompt for an agent.
    prompt text NOT NULL,
    exit_code integer,
    failure_reason text,
    agent_session_id text,
    -- Number of log entries persisted to the object store once the process has ended.
    entry_count bigint NOT NULL DEFAULT 0,
    started_at timestamptz,
    finished_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX execution_processes_attempt_idx ON execution_processes (attempt_id, created_at);

CREATE TRIGGER organizations_touch BEFORE UPDATE ON organizations FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER memberships_touch BEFORE UPDATE ON memberships FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER api_tokens_touch BEFORE UPDATE ON api_tokens FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER repositories_touch BEFORE UPDATE ON repositories FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER projects_touch BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER tasks_touch BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER task_attempts_touch BEFORE UPDATE ON task_attempts FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER execution_processes_touch BEFORE UPDATE ON execution_processes FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
