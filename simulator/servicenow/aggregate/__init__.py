"""The Aggregate API: statistics computed in SQL."""
