-- One row per tenant of the registry (`tenants.yaml`).
--
-- Columns:
--   id: The tenant id every table's tenant_id refers to.
--   name: The tenant's display name.
--   timezone: The tenant's IANA time zone (registry `timezone`, UTC by default): local hours and weekdays.
--   first_response_sla_seconds: How soon a customer's first message should be answered (registry
--     `first_response_sla`, 24 h by default).
select id, name, timezone, first_response_sla_seconds
from source.tenants
