-- The GitHub App (DESIGN.md §2, §6, §8): installations linked to orgs, GitHub fields on
-- repositories, and the durable inbox of webhook deliveries.

-- One installation of the App on a GitHub account (a user or an organization). A
-- webhook can announce it before anyone has linked it to an org, so `org_id` stays NULL
-- until the setup callback links it (an org admin who controls the GitHub account).
-- Rows with a NULL org are visible only in the system scope.
CREATE TABLE github_installations (
    id uuid PRIMARY KEY,
    org_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    -- GitHub's id of the installation.
    installation_id bigint NOT NULL UNIQUE,
    account_id bigint NOT NULL,
    account_login text NOT NULL,
    account_type text NOT NULL,
    -- 'all' repositories of the account, or the 'selected' ones.
    repository_selection text NOT NULL DEFAULT 'selected'
        CHECK (repository_selection IN ('all', 'selected')),
    -- Who installed it on GitHub (the `installation.created` sender), when known.
    installed_by_github_id bigint,
    -- The person who linked it to the org, and when.
    linked_by uuid REFERENCES users (id) ON DELETE SET NULL,
    linked_at timestamptz,
    suspended_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_installations_org_idx ON github_installations (org_id);

-- A repository on GitHub: its stable id (names can change), its `owner/name`, whether it
-- is private, and the installation that grants access to it (NULL once the App lost
-- access; the row stays while a project uses it).
ALTER TABLE repositories
    ADD COLUMN github_repo_id bigint,
    ADD COLUMN github_full_name text,
    ADD COLUMN github_installation_id bigint
        REFERENCES github_installations (installation_id) ON DELETE SET NULL,
    ADD COLUMN private boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT repositories_github_repo_unique UNIQUE (org_id, github_repo_id),
    ADD CONSTRAINT repositories_github_fields
        CHECK ((github_repo_id IS NULL) = (github_full_name IS NULL));
CREATE INDEX repositories_installation_idx ON repositories (github_installation_id);

-- Every webhook delivery GitHub sent us, stored before it is acknowledged: the unique
-- delivery id (`X-GitHub-Delivery`) makes a replay a no-op, and a processor task claims
-- rows (FOR UPDATE SKIP LOCKED, so api replicas share the work), retries failures with
-- backoff, and takes back rows whose processor died (`locked_until` in the past).
--
-- Intake runs before the org is known, in the system scope; `org_id` is filled in once
-- the delivery's installation resolves to an org, so an org's deliveries are visible to
-- it and everything else only to the system scope.
CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    delivery_id text NOT NULL UNIQUE CHECK (length(delivery_id) BETWEEN 1 AND 200),
    event text NOT NULL CHECK (length(event) BETWEEN 1 AND 100),
    action text,
    installation_id bigint,
    org_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    payload jsonb NOT NULL,
    -- received → processing → processed | ignored | failed. A failed row with a
    -- `next_attempt_at` is retried then; without one it is dead (attempts exhausted).
    status text NOT NULL DEFAULT 'received'
        CHECK (status IN ('received', 'processing', 'processed', 'failed', 'ignored')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    -- While `processing`: the claim's lease; past it, another processor takes the row.
    locked_until timestamptz,
    error text,
    received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- What the processor scans for: rows waiting, due for a retry, or abandoned.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (received_at)
    WHERE status IN ('received', 'processing', 'failed');
CREATE INDEX webhook_deliveries_org_idx ON webhook_deliveries (org_id, received_at);

CREATE TRIGGER github_installations_touch BEFORE UPDATE ON github_installations FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();
CREATE TRIGGER webhook_deliveries_touch BEFORE UPDATE ON webhook_deliveries FOR EACH ROW EXECUTE FUNCTION switchyard_touch_updated_at();

-- Row-level security as on every tenant table. A NULL org_id equals no org, so such
-- rows (an unlinked installation, a delivery not yet resolved) are seen and written
-- only in the system scope: webhook intake and the processor.
ALTER TABLE github_installations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON github_installations
    USING (switchyard_system_scope() OR org_id = switchyard_current_org())
    WITH CHECK (switchyard_system_scope() OR org_id = switchyard_current_org());
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON webhook_deliveries
    USING (switchyard_system_scope() OR org_id = switchyard_current_org())
    WITH CHECK (switchyard_system_scope() OR org_id = switchyard_current_org());

-- The default privileges of the people_tenancy migration grant switchyard_app
-- SELECT, INSERT, UPDATE, DELETE on these tables; say so explicitly for a database
-- whose tables were created by another role.
GRANT SELECT, INSERT, UPDATE, DELETE ON github_installations, webhook_deliveries TO switchyard_app;
