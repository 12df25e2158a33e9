"""The batch's one model process: `server` starts and stops it (`ModelServer`, and the
process's own side, `python -m agent.model.serve.server`), `endpoint` is the small
OpenAI-compatible HTTP endpoint it answers with.

Nothing is imported here, so running `server` as a program loads it once.
"""
