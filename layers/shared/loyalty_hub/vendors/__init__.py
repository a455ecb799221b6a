"""Vendor fan-out: the worker and the wiring every vendor shares, and one client per vendor
(models/vendors.py lists them)."""
