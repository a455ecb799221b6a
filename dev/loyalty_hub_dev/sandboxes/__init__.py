"""Vendor sandboxes: WSGI apps that enforce each vendor's documented contract and keep what they got."""
