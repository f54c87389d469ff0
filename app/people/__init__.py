"""Console users, their roles and sessions, and API tokens (issue 16, 18)."""
