-- The worker stopped keeping a process's output at `worker.max_log_bytes_per_process`;
-- the log ends with a system message saying so.
ALTER TABLE execution_processes ADD COLUMN log_truncated boolean NOT NULL DEFAULT false;
