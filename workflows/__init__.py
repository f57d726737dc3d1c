"""Temporal workflows: thin shells that keep a decider's state, record its events, and run its timers."""
