"""The ``agent-runtime`` command line: serve, run tasks, inspect and operate a service.

Every sub-command lives in its own module ``agent_runtime/cli/<name>_cmd.py``
(its ``COMMANDS`` tuple); ``agent_runtime.cli.main.COMMAND_MODULES`` lists them
(see ``agent_runtime.cli.registry``).
"""
