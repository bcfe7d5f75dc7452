-- Recipient domain → mailbox provider (Gmail, Outlook, Yahoo, iCloud, …), the mapping maintained in
-- `pipelines/warehouse/providers.py`. A domain not listed is the provider `other`.
--
-- Columns:
--   domain: A recipient domain, lower-case.
--   provider: The mailbox provider that hosts it.
select domain, provider
from source.mailbox_providers
