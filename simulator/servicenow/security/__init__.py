"""Security: basic auth and OAuth, ACLs, Password2 and REST rate limits."""
