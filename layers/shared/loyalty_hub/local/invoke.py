"""`make invoke FN=<logical id> EVENT=events/<file>`: one function, in this process, with the environment
template.yaml gives it, against the running local stack: `sam local invoke` for machines without Docker."""

import argparse
import json
import sys
from pathlib import Path

from loyalty_hub.admin import LOCAL_STATE
from loyalty_hub.local.stack import LocalStack


def main() -> int:
    cli = argparse.ArgumentParser(prog="make invoke", description=__doc__)
    cli.add_argument("function", help="the function's logical id in template.yaml, e.g. WebhookFunction")
    cli.add_argument("event", type=Path, help="a JSON event file, e.g. events/webhook/bills-post.json")
    args = cli.parse_args()
    if not LOCAL_STATE.is_file():
        print(f"error: {LOCAL_STATE} not found: start the local stack first (make run)", file=sys.stderr)
        return 2
    try:
        event = json.loads(args.event.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the event {args.event}: {exc}", file=sys.stderr)
        return 2
    state = json.loads(LOCAL_STATE.read_text())
    aws_port = int(state["endpoint_url"].rsplit(":", 1)[1])
    try:
        result = LocalStack(aws_port=aws_port).attach().invoke(args.function, event)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
