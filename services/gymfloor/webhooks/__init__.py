"""Staff alerts to each gym's HTTP webhooks: the signed message (`message.py`), the back-off
between attempts (`backoff.py`) and the deliverer that sends the store's outbox
(`deliverer.py`); docs/WEBHOOKS.md."""
