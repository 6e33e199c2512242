-- Executor profiles (org profiles and per-project overrides), org secrets (agent API keys,
-- encrypted at rest), and the profile snapshot an attempt runs with (DESIGN.md §5).

-- A named profile: an executor and its variants (variant name -> options, validated by
-- `shared::executors`). `project_id` NULL is the org's profile; set, it is a project's
-- override of the profile of the same name. Profiles Switchyard ships are code, not rows:
-- an org row of the same name replaces the shipped one for that org.
CREATE TABLE executor_profiles (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id uuid REFERENCES projects (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    executor text NOT NULL CHECK (executor ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    variants jsonb NOT NULL CHECK (jsonb_typeof(variants) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT executor_profiles_scope_name_key UNIQUE NULLS NOT DISTINCT (org_id, project_id, name)
);
CREATE INDEX executor_profiles_project_idx ON executor_profiles (project_id) WHERE project_id IS NOT NULL;

-- An org secret (e.g. ANTHROPIC_API_KEY), injected into executors' environments.
-- Only AES-256-GCM ciphertext is stored: `ciphertext` holds the sealed value and its tag,
-- `nonce` the 96-bit nonce drawn for that write, `key_id` the configured key it was sealed
-- with (so keys can rotate). The org id and the name are the associated data, so a
-- ciphertext copied to another row or org fails to open.
CREATE TABLE org_secrets (
    id uuid PRIMARY KEY,
    org_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (name ~ '^[A-Z_][A-Z0-9_]{0,63}$'),
    key_id text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 64),
    nonce bytea NOT NULL CHECK (length(nonce) = 12),
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

-- What the attempt was started with: profile name, variant, where it came from, executor
-- and options (`shared::executors::ResolvedProfile`), so later profile edits do not change
-- a run or its follow-ups.
ALTER TABLE task_attempts ADD COLUMN executor_profile jsonb;

CREATE TRIGGER executor_profiles_touch BEFORE UPDATE ON executor_profiles FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER org_secrets_touch BEFORE UPDATE ON org_secrets FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
