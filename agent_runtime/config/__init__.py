"""Configuration: the typed settings of agents, tools and the runtime, and the YAML loader that builds them."""
