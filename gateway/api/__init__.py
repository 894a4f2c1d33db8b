"""HTTP routers: parse, call the service, serialise. No logic lives here."""
