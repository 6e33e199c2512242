-- Who created each org, so the operator's `quotas.max_orgs_per_person` can be counted.
-- Orgs made before this column (and by `switchyard-api bootstrap`) have none and count
-- for nobody.
ALTER TABLE organizations ADD COLUMN created_by uuid REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX organizations_created_by_idx ON organizations (created_by) WHERE created_by IS NOT NULL;
