"""Tenant administration: tenants, their vendors and their secrets (D33). Secrets are shown once;
only hashes of DailyStory keys are kept."""

import os
import secrets as random_secrets
from typing import Any

import boto3

from loyalty_hub import aws
from loyalty_hub.auth import DAILYSTORY_KEY_HASHES, hash_api_key, new_api_key
from loyalty_hub.dal.tenants import TenantList, TenantStore
from loyalty_hub.errors import NotFound
from loyalty_hub.logic.webhook import WEBHOOK_SECRET_KEYS
from loyalty_hub.models import structs
from loyalty_hub.models.ids import is_valid_id
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendors import CustobarSettings, OrderingStackSettings, VoyadoSettings
from loyalty_hub.secrets import USES
from loyalty_hub_dev.admin.customers import CustomerOps
from loyalty_hub_dev.admin.records import RecordOps
from loyalty_hub_dev.admin.secrets import SecretStore
from loyalty_hub_dev.admin.target import AdminError, Target


class Admin(RecordOps):
    def __init__(self, target: Target) -> None:
        self.target = target
        if target.endpoint_url:  # the local stack: moto takes any credentials, and needs some
            os.environ["AWS_ENDPOINT_URL"] = target.endpoint_url
            for name, value in (
                ("AWS_ACCESS_KEY_ID", "local"),
                ("AWS_SECRET_ACCESS_KEY", "local"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
            ):
                os.environ.setdefault(name, value)
            aws.reset()
        self.tenants = TenantStore(target.tenants_table, cache_seconds=0)
        self.secrets = SecretStore(boto3.client("secretsmanager"), target.secrets_prefix)

    # ------------------------------------------------------------ tenants
    def create_tenant(self, tenant_id: str, name: str, time_zone: str, country: str, places: dict[str, str]) -> Tenant:
        try:
            self.tenants.get(tenant_id)
        except NotFound:
            pass
        else:
            raise AdminError(f"tenant {tenant_id} exists already: use 'add-place' or 'show'")
        tenant = _valid(
            Tenant,
            tenant_id=tenant_id,
            name=name,
            time_zone=time_zone,
            country=country,
            places={p: {"name": n} for p, n in places.items()},
        )
        self.tenants.put(tenant)
        return tenant

    def add_place(self, tenant_id: str, place_id: str, name: str) -> Tenant:
        tenant = self._tenant(tenant_id)
        if not is_valid_id(place_id):
            raise AdminError(f"a place id is 1 to 64 of A-Z a-z 0-9 _ - (Storyous uses 24 hex digits): {place_id!r}")
        updated = structs.replace(tenant, places={**tenant.places, place_id: Place(name=name)})
        self.tenants.put(updated)
        return updated

    def show(self, tenant_id: str) -> dict[str, Any]:
        tenant = self._tenant(tenant_id)
        return {
            **structs.to_plain(tenant),
            "secrets": [self.secrets.name(use, tenant_id) for use in USES if self.secrets.exists(use, tenant_id)],
            "storyous_webhook_secret_set": bool(self.secrets.read("webhook", tenant_id).get(WEBHOOK_SECRET_KEYS[0])),
            "dailystory_keys": len(self.secrets.read("dailystory", tenant_id).get(DAILYSTORY_KEY_HASHES, [])),
            "storyous_client_set": bool(self.secrets.read("storyous", tenant_id).get("storyous_client_id")),
        }

    def list(self) -> TenantList:
        listed = self.tenants.list()
        return TenantList(sorted(listed.tenants, key=lambda t: t.tenant_id), dict(sorted(listed.unreadable.items())))

    def enable_custobar(
        self, tenant_id: str, *, base_url: str, auth: str, field_prefix: str, credentials: dict[str, str]
    ) -> Tenant:
        """Custobar for the tenant: where, how to authenticate, the company-field prefix; credentials go to
        the tenant's secret (custobar_token, or custobar_username and custobar_password for Basic)."""
        tenant = self._tenant(tenant_id)
        settings = _valid(CustobarSettings, base_url=base_url, auth=auth, field_prefix=field_prefix)
        needed = ("custobar_username", "custobar_password") if settings.auth == "Basic" else ("custobar_token",)
        missing = [name for name in needed if not credentials.get(name)]
        if missing:
            raise AdminError(f"{settings.auth} auth needs {', '.join(missing)}")
        self.secrets.write("custobar", tenant_id, {name: credentials[name] for name in needed})
        return self._set_vendor(tenant, "custobar", settings)

    def enable_voyado(
        self, tenant_id: str, *, base_url: str, api_key: str, bucket_size: int = 60, refill_per_second: float = 1.0
    ) -> Tenant:
        """Voyado lookups for the tenant; the bridge's API key goes to the tenant's secret."""
        tenant = self._tenant(tenant_id)
        settings = _valid(
            VoyadoSettings, base_url=base_url, bucket_size=bucket_size, refill_per_second=refill_per_second
        )
        if not api_key.strip():
            raise AdminError("Voyado needs the bridge's API key (--api-key or VOYADO_API_KEY)")
        self.secrets.write("voyado", tenant_id, {"voyado_api_key": api_key})
        return self._set_vendor(tenant, "voyado", settings)

    def enable_orderingstack(
        self, tenant_id: str, *, base_url: str, os_tenant: str, grant: str, credentials: dict[str, str]
    ) -> Tenant:
        """OrderingStack for the tenant; client id and secret (and user, for the password grant) go to the secret."""
        tenant = self._tenant(tenant_id)
        settings = _valid(OrderingStackSettings, base_url=base_url, tenant=os_tenant, grant=grant)
        needed = ["orderingstack_client_id", "orderingstack_client_secret"]
        if settings.grant == "password":
            needed += ["orderingstack_username", "orderingstack_password"]
        missing = [name for name in needed if not credentials.get(name)]
        if missing:
            raise AdminError(f"OrderingStack needs {', '.join(missing)}")
        self.secrets.write("orderingstack", tenant_id, {n: credentials[n] for n in needed})
        return self._set_vendor(tenant, "orderingstack", settings)

    def _set_vendor(self, tenant: Tenant, vendor: str, settings: Any) -> Tenant:
        updated = structs.replace(tenant, vendors=structs.replace(tenant.vendors, **{vendor: settings}))
        self.tenants.put(updated)
        return updated

    def disable_vendor(self, tenant_id: str, vendor: str) -> Tenant:
        tenant = self._tenant(tenant_id)
        current = getattr(tenant.vendors, vendor, None)
        if current is None:
            raise AdminError(f"{vendor} is not configured for {tenant_id}")
        vendors = structs.replace(tenant.vendors, **{vendor: structs.replace(current, enabled=False)})
        updated = structs.replace(tenant, vendors=vendors)
        self.tenants.put(updated)
        return updated

    # ------------------------------------------------------------ secrets
    def set_webhook_secret(self, tenant_id: str, value: str | None) -> str:
        """Sets the secret Storyous sends; the one it replaces keeps working until the next change."""
        self._tenant(tenant_id)
        secret = value or random_secrets.token_urlsafe(32)
        if len(secret) < 16:
            raise AdminError("a webhook secret needs at least 16 characters")
        previous = self.secrets.read("webhook", tenant_id).get(WEBHOOK_SECRET_KEYS[0])
        stored = {WEBHOOK_SECRET_KEYS[0]: secret, WEBHOOK_SECRET_KEYS[1]: previous if previous != secret else None}
        self.secrets.write("webhook", tenant_id, {k: v for k, v in stored.items() if v is not None})
        return secret

    def set_storyous_client(self, tenant_id: str, client_id: str, client_secret: str) -> None:
        """The Storyous API client (client credentials) the scheduled Bills pull will use."""
        self._tenant(tenant_id)
        if not client_id.strip() or not client_secret.strip():
            raise AdminError("both a client id and a client secret are needed")
        self.secrets.write(
            "storyous", tenant_id, {"storyous_client_id": client_id, "storyous_client_secret": client_secret}
        )

    def issue_dailystory_key(self, tenant_id: str, *, rotate: bool) -> str:
        """A new key, shown once; `rotate` revokes every earlier key of the tenant."""
        self._tenant(tenant_id)
        key = new_api_key(tenant_id)
        stored = self.secrets.read("dailystory", tenant_id)
        earlier = [] if rotate else stored.get(DAILYSTORY_KEY_HASHES, [])
        stored[DAILYSTORY_KEY_HASHES] = [*earlier, hash_api_key(key)]
        self.secrets.write("dailystory", tenant_id, stored)
        return key

    def add_dailystory_key(self, tenant_id: str, key: str) -> None:
        """Registers a key chosen elsewhere (the local demo's fixed key); must read '<tenant>.<random>'."""
        if not key.startswith(f"{tenant_id}.") or len(key) < len(tenant_id) + 17:
            raise AdminError(f"a key must read '{tenant_id}.<at least 16 random characters>'")
        stored = self.secrets.read("dailystory", tenant_id)
        stored[DAILYSTORY_KEY_HASHES] = sorted({*stored.get(DAILYSTORY_KEY_HASHES, []), hash_api_key(key)})
        self.secrets.write("dailystory", tenant_id, stored)

    def customer_ops(self) -> CustomerOps:
        return CustomerOps(self.target)

    # ------------------------------------------------------------ helpers
    def _tenant(self, tenant_id: str) -> Tenant:
        try:
            return self.tenants.get(tenant_id)
        except NotFound as exc:
            raise AdminError(f"no tenant {tenant_id}: create it with 'create'") from exc


def _valid[T](model: type[T], **values: Any) -> T:
    """The operator's values as `model`, checked (a model built in code is not); AdminError names the field."""
    try:
        return structs.convert(model, values)
    except structs.Invalid as exc:
        raise AdminError(structs.reason(exc)) from exc
