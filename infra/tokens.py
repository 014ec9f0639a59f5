"""`plumeline token create`: a bearer token for the HTTP API, printed on stdout."""

from __future__ import annotations

import time

from plumeline.infra.cli import ExitStatus, UserError
from plumeline.infra.settings import Settings
from plumeline.serve.tokens import TokenKey

__all__ = ["create_token"]


def create_token(args) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    key = TokenKey.load_or_create(settings.api_key_path)
    if args.ttl <= 0:
        raise UserError(f"--ttl must be positive, got {args.ttl}")
    try:
        token = key.issue(args.user, args.role, int(time.time()) + args.ttl)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(token)
    return ExitStatus.OK
