"""The runtime package's module map, from its own imports: each part, what it holds, and the parts it
imports. `python tools/module_map.py` prints the block docs/architecture.md carries (a test compares)."""

import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
# Top to bottom, as the import-linter contracts in pyproject.toml order them.
PARTS = {
    "functions": "thin Lambda handlers (functions/*/app.py): decorators, one call into the package",
    "loyalty_hub.logic": "use cases: webhook, ingest, customer API, capture, pull, reconcile, resend, quarantine",
    "loyalty_hub.vendors": "the shared vendor worker and wiring; one client and mapping per vendor",
    "loyalty_hub.dal": "every AWS call: DynamoDB tables, S3 archive and snapshots, SQS queues, Streams",
    "loyalty_hub.rules": "domain rules: what a bill counts for, the customer projection, lookup rules",
    "loyalty_hub.storyous": "Storyous: field mapping of DataSync payloads, the REST client of the pull",
    "loyalty_hub.remote": "HTTP: pooled sessions, the errors that decide a message's fate, backoff",
    "loyalty_hub.models": "msgspec Structs (D49): tenants, the vendor table, envelopes, messages, quarantine",
    "loyalty_hub (base)": "settings, errors, limits, clients, logging, auth, secrets, warm caches, batch responses, GC",
}
BASE = ["errors", "config", "limits", "aws", "observability", "auth", "secrets", "api", "warm", "partial", "collector"]


def part(module: str) -> str | None:
    if module.startswith("functions."):
        return "functions"
    for name in PARTS:
        if module == name or module.startswith(name + "."):
            return name
    if module.removeprefix("loyalty_hub.") in BASE:
        return "loyalty_hub (base)"
    return None


def module_map() -> str:
    sys.path[:0] = [str(ROOT / "layers/shared"), str(ROOT)]
    graph = grimp.build_graph("loyalty_hub", "functions")
    imports: dict[str, set[str]] = {name: set() for name in PARTS}
    for module in graph.modules:
        source = part(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = part(imported)
            if source and target and target != source:
                imports[source].add(target)
    order = list(PARTS)
    lines = []
    for name, what in PARTS.items():
        below = sorted(imports[name], key=order.index)
        lines.append(f"{name:<22} {what}")
        lines.append(f"{'':<22}   -> {', '.join(below) if below else '(nothing of ours)'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(module_map())
