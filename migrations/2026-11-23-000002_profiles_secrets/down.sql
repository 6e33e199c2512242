ALTER TABLE task_attempts DROP COLUMN executor_profile;
DROP TABLE org_secrets;
DROP TABLE executor_profiles;
