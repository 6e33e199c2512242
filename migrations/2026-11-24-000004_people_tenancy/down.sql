ALTER DEFAULT PRIVILEGES IN SCHEMA public
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM switchyard_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM switchyard_app;
REVOKE USAGE ON SCHEMA public FROM switchyard_app;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['organizations', 'memberships', 'invitations', 'api_tokens',
        'repositories', 'projects', 'tasks', 'task_attempts', 'execution_processes',
        'executor_profiles', 'org_secrets', 'audit_events']
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant ON %I', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
DROP FUNCTION switchyard_system_scope();
DROP FUNCTION switchyard_current_org();
DROP TABLE audit_events;
DROP TABLE invitations;
DROP TABLE refresh_tokens;
DROP TABLE user_sessions;
