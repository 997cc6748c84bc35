"""The Batch API: items run in-process through the instance's own app."""
