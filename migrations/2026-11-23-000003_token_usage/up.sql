-- Token usage the agents report, per process and summed per attempt, for cost per task
-- and budgets (DESIGN.md §8). Cost is what the agent says it cost, when it says.
ALTER TABLE execution_processes
    ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    ADD COLUMN cost_usd double precision CHECK (cost_usd >= 0);
ALTER TABLE task_attempts
    ADD COLUMN input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    ADD COLUMN output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    ADD COLUMN cost_usd double precision CHECK (cost_usd >= 0);
