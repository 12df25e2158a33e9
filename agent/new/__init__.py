"""`greenloop new`: a spec (and its tests) in, a planned, generated, green project out.

scaffold.py      run_new: plan, generate, loop (agent.run.loop), confirm, commit
job.py           NewJob: new's part in the loop (spec feedback, fresh generated files)
plan.py          the Plan (files, interfaces, test command), parsed and checked
plan_schema.py   lenient JSON reading of a plan reply
generate.py      the plan call, then one call per file, through the syntax gate
requirements.py  what the acceptance tests import and call: hard requirements
speccode.py      what the spec's own code gives for free
"""
