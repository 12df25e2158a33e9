"""Where `ModelServer` used to live; it is `agent.model.serve.server` now.

Kept for the one importer outside this package's reach (`agent.batch.scheduler`);
remove once it imports `agent.model.serve.server`.
"""

from agent.model.serve.server import ModelServer, served_name

__all__ = ["ModelServer", "served_name"]
