"""Sharing: the share queue (pull), push mode and its pusher, retrieval and callback routes."""
