"""The Table API routes."""
