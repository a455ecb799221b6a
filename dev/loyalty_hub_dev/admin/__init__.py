"""Tenant administration against a deployed stack (`--stack NAME`: names from its outputs, AWS
credentials as usual) or the local stack (`--local`: names and endpoint from its state file).

`loyalty-hub --help` (the console script `make setup` installs) or `make admin ARGS=...`."""

from loyalty_hub_dev.admin.cli import main
from loyalty_hub_dev.admin.core import Admin
from loyalty_hub_dev.admin.target import LOCAL_STATE, AdminError, Target

__all__ = ["LOCAL_STATE", "Admin", "AdminError", "Target", "main"]
