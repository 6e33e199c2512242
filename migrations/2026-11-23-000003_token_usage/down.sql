ALTER TABLE task_attempts DROP COLUMN cost_usd, DROP COLUMN output_tokens, DROP COLUMN input_tokens;
ALTER TABLE execution_processes DROP COLUMN cost_usd, DROP COLUMN output_tokens, DROP COLUMN input_tokens;
