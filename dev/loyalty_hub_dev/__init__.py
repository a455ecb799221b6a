"""Development and operator tooling for loyalty-hub: the admin command, the local stack and the vendor
sandboxes. Never part of the Lambda layer, which holds the runtime package loyalty_hub only."""
