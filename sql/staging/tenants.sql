-- One row per tenant of the registry (`tenants.yaml`).
--
-- Columns:
--   id: The tenant id every table's tenant_id refers to.
--   name: The tenant's display name.
select id, name
from source.tenants
