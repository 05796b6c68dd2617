"""The live ingest service: MQTT in, detector, feedback, staff alerts and the operational store."""
