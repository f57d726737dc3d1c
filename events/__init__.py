"""accord's domain: event types and deciders per process, and the PostgreSQL event store."""
