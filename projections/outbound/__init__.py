"""What the ledger sends out: the notifier follows LEDGER and delivers alert events to
webhook subscriptions over HTTP (at least once, signed, to public addresses only).

Not a view: it writes no rows. It lives beside the views because, like the projection
runner, it is a follower of the ledger that reads `events/` and the pure webhook rules
of `projections/webhooks.py`.
"""
