"""The HTTP API: members, staff and admin over the operational store."""
