"""loyalty-hub shared package: models, auth helpers, data access and domain logic.

Shipped in the Lambda layer as /opt/python/loyalty_hub and imported by that name everywhere.
"""
