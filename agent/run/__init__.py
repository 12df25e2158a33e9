"""One run, shared by `new` and `fix`: the loop, its budget, its record and settings."""
