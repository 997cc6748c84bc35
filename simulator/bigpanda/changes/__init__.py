"""Changes and Root Cause Changes (RCC): state, relations and routes."""
