"""The `greenloop` command line, one module per command; `main` is the console script.

    agent/cli/app.py      the Typer app, the commands registered, errors -> messages
    agent/cli/common.py   console, shared options, model settings, the live view
    agent/cli/new.py      greenloop new      -> agent.new.scaffold.run_new -> agent.run.loop
    agent/cli/fix.py      greenloop fix      -> agent.fix.repair.run_fix   -> agent.run.loop
    agent/cli/batch.py    greenloop batch    -> agent.batch.scheduler.run_batch; greenloop report
    agent/cli/sandbox.py  greenloop sandbox build | prune | test
    agent/cli/doctor.py   greenloop doctor
    agent/cli/show.py     greenloop show

Nothing imports the app but the console script.
"""

from agent.cli.app import main

__all__ = ["main"]
