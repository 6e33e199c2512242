-- Board reads and the end of a column, served by indexes that lead with the project.
--
-- The tenant policy is `system scope OR org_id = current org`: an OR, so the planner
-- cannot use it as an index condition, and `tasks_board_idx` (which led with org_id) was
-- only usable where a query named the org itself. `boards::end_of_column` does not, so
-- every new card scanned the whole table under its project's row lock (10 ms at 20k
-- cards); the task list sorted every card of the project to return one page.

-- Board order of the status columns (text order would put `cancelled` first). The task
-- list orders by it, and its cursor compares against it, so an index can serve both.
CREATE FUNCTION switchyard_board_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE status
        WHEN 'todo' THEN 0 WHEN 'inprogress' THEN 1 WHEN 'inreview' THEN 2 WHEN 'done' THEN 3
        ELSE 4
    END;

DROP INDEX tasks_board_idx;
-- A column's cards in order: its last position, a column's page.
CREATE INDEX tasks_column_idx ON tasks (project_id, status, position);
-- The whole board in order, a page at a time.
CREATE INDEX tasks_board_order_idx ON tasks (project_id, switchyard_board_rank(status), position, id);
