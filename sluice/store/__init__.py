"""The job store: SQL through SQLAlchemy 2.x, returning domain records."""
