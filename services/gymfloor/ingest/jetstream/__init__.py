"""Partitioned ingest on NATS JetStream: any number of `gymfloor ingest` processes share the
stream's partitions, each partition processed by one of them at a time (see docs/SCALING.md)."""
