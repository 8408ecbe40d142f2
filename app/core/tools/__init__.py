"""Tools the model may call: built-in ones and those of MCP servers (see base.py)."""
