"""The admin command's side of the tenant secrets: write one use's secret, and migrate the single
per-tenant secret of earlier versions into the split layout (`loyalty_hub.secrets`, D33)."""

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loyalty_hub.secrets import USES, Use, legacy_secret_name, secret_name, split

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

LEGACY_RECOVERY_DAYS = 7  # a deleted legacy secret can be restored this long (Secrets Manager's minimum)


@dataclass
class Migration:
    """What `secrets migrate` did for one tenant; values are never shown, only names."""

    tenant_id: str
    legacy: str
    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already split with the same values
    differs: list[str] = field(default_factory=list)  # already split with other values, set since: kept
    unknown_keys: list[str] = field(default_factory=list)  # in the legacy secret, read by no function
    legacy_deleted: bool = False
    note: str = ""


class SecretStore:
    def __init__(self, client: "SecretsManagerClient", prefix: str) -> None:
        self._client = client
        # A stack deployed before the split names its prefix '<...>/tenants': the same secrets' parent.
        self.prefix = prefix.rstrip("/").removesuffix("/tenants")

    def name(self, use: Use, tenant_id: str) -> str:
        return secret_name(self.prefix, use, tenant_id)

    def read(self, use: Use, tenant_id: str) -> dict[str, Any]:
        return self._read(self.name(use, tenant_id)) or {}

    def exists(self, use: Use, tenant_id: str) -> bool:
        return self._read(self.name(use, tenant_id)) is not None

    def write(self, use: Use, tenant_id: str, value: dict[str, Any]) -> None:
        name = self.name(use, tenant_id)
        try:
            self._client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        except self._client.exceptions.ResourceNotFoundException:
            self._client.create_secret(
                Name=name,
                SecretString=json.dumps(value),
                Description=f"loyalty-hub: tenant {tenant_id}, read by the {use} function only",
                Tags=[{"Key": "tenant", "Value": tenant_id}, {"Key": "use", "Value": use}],
            )

    def migrate(self, tenant_id: str, *, delete_legacy: bool) -> Migration:
        """Copies each use's values from the legacy secret into its own secret, never overwriting one that
        exists (set since, it is the newer); deletes the legacy secret (recoverable for 7 days) when asked.
        Running it again is harmless."""
        legacy_name = legacy_secret_name(self.prefix, tenant_id)
        report = Migration(tenant_id, legacy_name)
        legacy = self._read(legacy_name)
        if legacy is None:
            report.note = "no legacy secret: nothing to migrate"
            return report
        by_use, report.unknown_keys = split(legacy)
        for use in USES:
            if use not in by_use:
                continue
            current = self._read(self.name(use, tenant_id))
            if current is None:
                self.write(use, tenant_id, by_use[use])
                report.created.append(self.name(use, tenant_id))
            elif all(current.get(k) == v for k, v in by_use[use].items()):
                report.present.append(self.name(use, tenant_id))
            else:
                report.differs.append(self.name(use, tenant_id))
        if delete_legacy:  # every use now has its own secret, which the functions read
            self._client.delete_secret(SecretId=legacy_name, RecoveryWindowInDays=LEGACY_RECOVERY_DAYS)
            report.legacy_deleted = True
        return report

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            value = self._client.get_secret_value(SecretId=name)
        except self._client.exceptions.ResourceNotFoundException:
            return None
        except self._client.exceptions.InvalidRequestException:  # scheduled for deletion: treated as gone
            return None
        stored: dict[str, Any] = json.loads(value["SecretString"])
        return stored
