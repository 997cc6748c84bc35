"""Base pieces every layer imports: the one injectable clock with its time formats, and the seeded random source."""
