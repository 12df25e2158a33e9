"""What a user can ask greenloop to do, ready to run from any entry point.

The command line (`agent.cli`) and the MCP server (`agent.mcp`) are two shells over
the same starts: each check, lock, record and model of a run is made here once.

    model.py    the model settings: CLI > env > the user's file (never a repo's)
    new.py      `new` from its options: prepared, its place held, resumable
    fix.py      `fix` the same way
    started.py  what both starts give back (the run, its model, what it replays)
"""
