"""The ``agent-runtime`` command line: serve, run tasks, inspect and operate a service.

Every sub-command lives in its own module ``agent_runtime/cli/<name>_cmd.py``
and registers itself there (see ``agent_runtime.cli.registry``).
"""
