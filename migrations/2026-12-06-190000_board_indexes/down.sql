DROP INDEX tasks_board_order_idx;
DROP INDEX tasks_column_idx;
CREATE INDEX tasks_board_idx ON tasks (org_id, project_id, status, position);
DROP FUNCTION switchyard_board_rank(text);
