-- Services that run as a member of accord_app check at start that the schema is up to date,
-- so the role may read (never change) the record of applied migrations.
GRANT SELECT ON accord.schema_migrations TO accord_app;
