"""`greenloop fix`: an existing repository's failing tests, localized and fixed on a branch.

repair.py     run_fix: snapshot HEAD, baseline, loop (agent.run.loop), confirm, commit
detect.py     how the tests run: pytest's, or node's runner's (js_project.py: package.json)
job.py        FixJob: fix's part in the loop (the fix prompt, restarts, fixed = green)
baseline.py   which tests fail for real, which are flaky, what is missing
context.py    the code a fix prompt shows, localized afresh for every prompt
localize.py   which definitions the failing tests run (calls, coverage, tracebacks)
excerpts.py   the suspects' text with line numbers, then the map
repomap.py    the repo map of everything else
symbols.py    definitions with their spans, imports followed
js_localize.py, js_outline.py   the same for JavaScript and TypeScript (no coverage)
"""
