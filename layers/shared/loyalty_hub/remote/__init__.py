"""Calls to other systems over HTTP (the vendors and Storyous): one pooled client, one set of errors
that decide what happens to the work, one backoff."""
