"""`make invoke FN=<logical id> EVENT=events/<file>`: one function, in this process, with the environment
template.yaml gives it, against the running local stack: `sam local invoke` for machines without Docker.

`make fire FN=<logical id>`: the running stack fires that function's schedule now, as EventBridge
Scheduler would (the stack runs it, one run at a time with its timed runs)."""

import argparse
import json
import sys
from pathlib import Path

from loyalty_hub_dev.admin import LOCAL_STATE
from loyalty_hub_dev.local.client import http_json
from loyalty_hub_dev.local.stack import LocalStack


def main() -> int:
    cli = argparse.ArgumentParser(prog="make invoke", description=__doc__)
    cli.add_argument("function", help="the function's logical id in template.yaml, e.g. WebhookFunction")
    cli.add_argument("event", type=Path, nargs="?", help="a JSON event file, e.g. events/webhook/bills-post.json")
    cli.add_argument("--fire", action="store_true", help="fire the function's schedule in the running stack")
    args = cli.parse_args()
    if not LOCAL_STATE.is_file():
        print(f"error: {LOCAL_STATE} not found: start the local stack first (make run)", file=sys.stderr)
        return 2
    state = json.loads(LOCAL_STATE.read_text())
    if args.fire:
        status, answer = http_json("POST", f"{state['control_url']}/schedules/{args.function}", timeout=900)
        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0 if status == 200 else 1
    if args.event is None:
        print("error: an event file is needed (or --fire for a scheduled function)", file=sys.stderr)
        return 2
    try:
        event = json.loads(args.event.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read the event {args.event}: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(aws_port=_port(state["endpoint_url"]), storyous_port=_port(state["storyous_url"]))
    try:
        result = stack.attach().invoke(args.function, event)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


if __name__ == "__main__":
    sys.exit(main())
