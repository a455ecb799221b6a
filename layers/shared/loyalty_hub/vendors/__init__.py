"""Vendor fan-out: the framework every vendor worker shares, and one module per vendor."""
