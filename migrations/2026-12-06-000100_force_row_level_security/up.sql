-- Row-level security binds the tables' owner too. Without FORCE, the owner (the role
-- migrations run as) skips every policy, so a services process pointed at the owner by
-- mistake would see every org's rows; the services also refuse such a role at start
-- (shared::db::role_problem). A later migration that rewrites tenant rows as a
-- non-superuser owner names its scope first, inside its own transaction:
--     SELECT set_config('switchyard.system', 'on', true);
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
    LOOP
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
