"""The request path: prepare (embed, cache, retrieve, decide), execute (call the target), record."""
