"""The live path to the reply service: notifications, discovery of new mail, the hand-off run, the payload,
the ledger, delivery with retries, signatures and a local stand-in for the reply service."""
