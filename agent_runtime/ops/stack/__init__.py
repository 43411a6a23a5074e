"""The local stack behind ``agent-runtime stack``: launcher and its options, processes, receiver, config rendering."""
