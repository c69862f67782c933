"""The pure core: IR, values, placeholders and the planner. No I/O here."""
