"""HTTP endpoints: thin routers that parse, call the service, and serialise."""
