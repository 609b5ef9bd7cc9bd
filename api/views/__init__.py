"""HTTP resources, one module per resource: commands (the writes), records (a CCG's
decision, history and cases), determinations (issued decisions and appeals),
integrity (the tamper-evident log), reports (the read models), reference data,
health. Their schemas are in ``api/schemas/``, one module per resource too."""
