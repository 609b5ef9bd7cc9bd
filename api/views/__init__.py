"""HTTP resources, one module per concept: commands, a CCG's record, reference data, health."""
