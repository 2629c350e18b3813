"""Stage 1: what a record is. Avro schemas, the Confluent wire codec, typed records and validation."""
