"""Execution: plans as validated DAGs of tool calls, and the executor that runs calls in parallel under a limit."""
