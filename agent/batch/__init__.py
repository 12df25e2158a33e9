"""`greenloop batch` and `greenloop report`: many tasks at once, resumable, with a report.

scheduler.py  run_batch: the queue, the budget, resume, the summary
task_run.py   one task as a worker runs it: its tries (agent.new.scaffold.run_new)
ledger.py     what tries, tasks and the batch leave on disk: TryRecord, TaskRecord, BatchSummary
executors.py  a local process pool, or Ray (ray_executor.py)
ray_executor.py  Ray tasks that ship their outputs back (shipping.py: the bounded parcel)
live_view.py  the terminal view of a batch
report.py     a batch's results as Markdown and HTML
compare.py    batch runs side by side
"""
