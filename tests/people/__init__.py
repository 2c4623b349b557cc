"""People: the People pages, profiles, roles and personal API tokens."""
