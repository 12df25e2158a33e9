"""`greenloop fix`: an existing repository's failing tests, localized and fixed."""
