"""`greenloop show`: a run's record read back, as a page or as text."""
