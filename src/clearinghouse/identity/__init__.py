"""Who may do what: organisations, users, roles and API tokens."""
