ALTER TABLE execution_processes DROP COLUMN log_truncated;
