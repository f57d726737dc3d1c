"""Temporal activities: the side effects of accord (appending events, delivering notifications)."""
