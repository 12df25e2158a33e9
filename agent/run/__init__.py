"""One run, shared by `greenloop new` and `greenloop fix`: the loop and what it stands on.

loop.py          the red-to-green loop: test, then feedback edits or fresh samples
moves.py         which way forward pays (this run's tries and the batch's), learned
job.py           Job: what a command brings to the loop (feedback, fresh, green)
budget.py        Budget (the one counter: tokens, cost, calls, malformed) and Caller
record.py        the run folder, the result (new's and fix's), the Recorder
events.py        the events, one frozen dataclass a kind, and the Record callable
codec.py         the trajectory's one writer and reader (format line, strict or lenient)
settings.py      RunSettings, and the option choices as enums
prepared.py      PreparedRun: a run resolved once (record folder, sandbox, test args, budgets)
prompts.py       what new's and fix's prompts share: the system prompt, a failure
replies.py       how long each kind of reply may run, and its stop sequences
candidates.py    the events of each candidate and test run (TestRun.of: a report's)
verdict.py       every expected test ran; green confirmed in a fresh sandbox
finish.py        the outcome into the result, the best files kept, the commit trailers
live_view.py     the terminal view of one run
"""
