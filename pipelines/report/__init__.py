"""What people look at: the self-contained HTML report of a tenant's (or every tenant's) figures, read from the
published warehouse."""
