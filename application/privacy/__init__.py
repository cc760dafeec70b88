"""Personal data under keys that can be destroyed (crypto-shredding, docs/auditing.md)."""
