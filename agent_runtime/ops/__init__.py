"""Operations tools around the runtime, not part of it: the local stack, the load generator and fault injection."""
