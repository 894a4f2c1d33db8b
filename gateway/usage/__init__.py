"""Per-request usage records: what was asked, what answered, what it cost, how long it took."""
