"""`greenloop show`: a run's record (agent.run.record) read back, as a page or as text.

trajectory.py  the trajectory as steps a person can follow
page.py        the self-contained HTML page, and the plain-text rendering
"""
