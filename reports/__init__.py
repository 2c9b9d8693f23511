"""Reports (SPEC §7): one module per report with pure query functions (session, filters) → rows,
used by the report pages, downloads, statements, CLI and tests alike."""
