"""The local stack behind ``agent-runtime stack``: launcher, processes, built-in receiver and config rendering."""
