"""Git on the user's repository: safe runner, branches and commits, secret scan."""
