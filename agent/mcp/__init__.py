"""greenloop as an MCP server (`greenloop mcp`): its commands as tools for editors and
other agents, on the official MCP SDK.

    server.py    the tools and their typed inputs and outputs
    child.py     one long tool call: the CLI as a child process, its progress,
                 its cancellation (a Ctrl-C), its model requests to the client
    sampling.py  the client's own model as greenloop's (`--model client`)
"""
