"""The gateway: one port that routes inference traffic to each endpoint's current revision."""
