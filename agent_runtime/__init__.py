"""agent_runtime: route tasks to agents and run their tools fast, with telemetry."""

__version__ = "0.1.0"
__all__ = ["__version__"]
