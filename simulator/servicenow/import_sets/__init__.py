"""Import sets: transform maps, staging and the transform, and the Import Set API routes."""
