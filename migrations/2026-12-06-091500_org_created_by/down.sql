ALTER TABLE organizations DROP COLUMN created_by;
