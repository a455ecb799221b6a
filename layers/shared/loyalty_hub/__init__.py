"""loyalty-hub's runtime package: use cases (logic), vendor workers (vendors), data access (dal), domain
rules (rules), the Storyous and HTTP clients (storyous, remote), models, and the base modules under them
(docs/architecture.md draws the layers).

Shipped in the Lambda layer as /opt/python/loyalty_hub and imported by that name everywhere.
"""
