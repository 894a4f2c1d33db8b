"""Which version of each route may serve: the promotion record and the gate the config store asks on reload.

Promotions live in the eval database (`store.py`, shared with eval history) because `ragway eval --gate`
writes them; the running gateway only reads them, through `PromotionGate`, so it never imports the
evaluation package that drives it.
"""
