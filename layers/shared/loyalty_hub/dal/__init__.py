"""Data access: the only modules that call AWS (DynamoDB, S3, SQS, DynamoDB Streams)."""
