"""The two verbs: a record session and an enforce session, and what both share."""
