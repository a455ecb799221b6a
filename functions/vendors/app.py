"""Every vendor worker: Handler `app.<vendor>` (template.yaml) is that vendor's handler, wired the one way
all of them are (loyalty_hub.vendors.wiring); a vendor added to models.vendors.VENDORS needs nothing here."""

from typing import Any

from loyalty_hub.vendors.wiring import handler


def __getattr__(name: str) -> Any:  # Lambda looks the handler up by name: app.custobar, app.voyado, ...
    return handler(name)
