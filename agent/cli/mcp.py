"""`greenloop mcp`: serve greenloop's commands as MCP tools (`agent.mcp.server`)."""

from __future__ import annotations

from typing import Annotated

import typer

from agent.errors import UsageError

HELP = "\n\n".join(
    [
        "Serve greenloop to editors and agents over MCP (stdio; --http for loopback HTTP).",
        "Tools: sandbox_test (a folder's tests in the sandbox: the structured report), "
        "new (a spec to a green commit), fix (failing tests green on a new branch), batch "
        "and report (a folder of tasks), show (a run's trajectory as text). Long tools "
        "report progress and stop as Ctrl-C does when cancelled.",
        "To use it from Claude Desktop or Code, Cursor or VS Code, add this to their MCP "
        "settings (claude_desktop_config.json, .mcp.json, .cursor/mcp.json; VS Code's "
        '.vscode/mcp.json calls the table "servers"):',
        '{"mcpServers": {"greenloop": {"command": "greenloop", "args": ["mcp"]}}}',
        "With --model client, runs ask the editor's own model (MCP sampling): no API key.",
    ]
)


def mcp(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The model of runs that name none: a name, 'local', or 'client' (ask the "
            "MCP client's own model through sampling). Default: greenloop's settings.",
        ),
    ] = None,
    http: Annotated[
        bool, typer.Option(help="Serve streamable HTTP on 127.0.0.1 instead of stdio.")
    ] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port of --http.")] = 8765,
) -> None:
    """Serve greenloop over MCP (`HELP` says how, as `greenloop mcp --help` shows)."""
    from agent.mcp.server import make_server

    if model == "none":
        raise UsageError("--model none: name a model, 'local' or 'client', or leave it out")
    server = make_server(default_model=model)
    if http:
        server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        server.run()
