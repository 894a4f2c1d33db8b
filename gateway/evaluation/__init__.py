"""Evaluation: gold sets run through the gateway's own path per variant, the deployment gate, and the advisor."""
