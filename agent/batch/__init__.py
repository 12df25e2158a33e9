"""`greenloop batch`: many tasks at once, resumable, with a report."""
