"""What a warm execution environment keeps is registered where it is kept (loyalty_hub.warm): one call
forgets all of it, and no module keeps a cache of its own beside the registry."""

import re

from loyalty_hub import aws, config, warm
from loyalty_hub.config import IngestSettings
from loyalty_hub.dal import tenants
from loyalty_hub.logic import ingest
from loyalty_hub_dev.local.template import ROOT


def test_no_module_keeps_a_cache_the_registry_does_not_know() -> None:
    sources = [*(ROOT / "layers/shared/loyalty_hub").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    unregistered = []
    for path in sources:
        text = path.read_text()
        for match in re.finditer(r"^@(functools\.)?(cache|lru_cache)\b.*\n(?:@.*\n)*def (\w+)", text, re.M):
            name = match.group(3)  # registered: forgotten by a @warm.forgets function, or passed to warm.forgets
            if not (f"{name}.cache_clear" in text and "warm.forgets" in text):
                unregistered.append(f"{path.relative_to(ROOT)}:{name}")
    assert unregistered == []


def test_forget_all_drops_clients_settings_dependencies_and_tenants(stack: object) -> None:
    first = aws.client("sqs")
    settings = config.load(IngestSettings)
    deps = ingest.default_deps()
    tenants.TenantStore.from_settings(settings)
    warm.forget_all()
    assert aws.client("sqs") is not first
    assert config.load(IngestSettings) is not settings
    assert ingest.default_deps() is not deps
