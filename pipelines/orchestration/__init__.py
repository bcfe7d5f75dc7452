"""The Dagster layer: resources, partitions, jobs, schedules and the live sensor (thin wiring; the work is
in the domain subpackages)."""
