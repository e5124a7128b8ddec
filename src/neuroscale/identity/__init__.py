"""Who is asking: users, their roles, tokens and browser sessions.

Every request to the portal and REST API and every CLI command acts as one
`Actor`. Roles are a ladder (viewer < author < approver < admin); what each
rung may do is one table in `roles`, and `store` keeps users and hashed
credentials in the platform's SQLite database. Use cases enforce the roles
(`neuroscale.services`); adapters only establish who is asking.
"""
