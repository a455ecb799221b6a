"""Settings from the environment (config.load): numbers and JSON read from their text, other variables
ignored, and a bad or missing variable named in a ConfigurationError (its value never shown)."""

from collections.abc import Iterator

import pytest

from loyalty_hub import config
from loyalty_hub.errors import ConfigurationError

BASE = {"TENANTS_TABLE": "Tenants", "SECRETS_PREFIX": "loyalty-hub/dev", "CUSTOMERS_TABLE": "Customers"}
QUEUES = '{"custobar": "https://sqs.eu-central-1.amazonaws.com/1/custobar"}'


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("TENANTS_TABLE", "SECRETS_PREFIX", "CUSTOMERS_TABLE", "VENDOR_QUEUES", "VENDOR_DEAD_LETTER_QUEUES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    config.load.cache_clear()
    yield monkeypatch
    config.load.cache_clear()


def test_numbers_and_json_are_read_from_their_text(env: pytest.MonkeyPatch) -> None:
    env.setenv("VENDOR_QUEUES", QUEUES)
    env.setenv("VENDOR_DEAD_LETTER_QUEUES", "{}")
    env.setenv("VENDOR_MAX_RECEIVES", "7")
    env.setenv("SOMETHING_ELSE", "ignored")
    loaded = config.load(config.VendorWorkerSettings)
    assert loaded.VENDOR_MAX_RECEIVES == 7 and loaded.VENDOR_QUEUES["custobar"].endswith("/custobar")
    assert loaded.TENANT_CACHE_SECONDS == 60  # the default


@pytest.mark.parametrize(
    ("name", "value"),
    [("VENDOR_MAX_RECEIVES", "0"), ("VENDOR_MAX_RECEIVES", "many"), ("VENDOR_QUEUES", "{not json"),
     ("VENDOR_QUEUES", '["a list"]'), ("TENANTS_TABLE", "")],
)  # fmt: skip
def test_a_bad_variable_is_named_and_its_value_is_not(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv("VENDOR_QUEUES", QUEUES)
    env.setenv("VENDOR_DEAD_LETTER_QUEUES", "{}")
    env.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        config.load(config.VendorWorkerSettings)
    assert str(raised.value) == f"invalid or missing environment variables: {name}"


def test_a_missing_variable_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("SNAPSHOT_BUCKET", "snapshots")
    env.delenv("CUSTOMERS_TABLE")
    with pytest.raises(ConfigurationError, match=r"variables: CUSTOMERS_TABLE$"):
        config.load(config.CustomerApiSettings)
