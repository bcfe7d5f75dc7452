"""The objects of a day -> rows of the lake tables `messages`, `recipients`, `attachments` and `quarantine`."""
