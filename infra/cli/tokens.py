"""`plumeline token create | keys | rotate | retire` (the keys themselves:
infra/runtime/keys.py; `token list | revoke` and the record of each key: infra/cli/users.py).
"""

from __future__ import annotations

import time

from plumeline.infra.runtime.errors import ExitStatus, UserError
from plumeline.infra.runtime.keys import KeyStore
from plumeline.infra.runtime.settings import Settings

__all__ = ["create_token", "token_command"]


def create_token(args) -> int:
    settings = Settings.from_env(data_dir=args.data_dir)
    key = KeyStore.of(settings).signing()
    if args.ttl <= 0:
        raise UserError(f"--ttl must be positive, got {args.ttl}")
    now = int(time.time())
    facilities = getattr(args, "facility", None) or []
    try:
        key.issue(args.user, args.role, now + args.ttl, issued_s=now, facilities=facilities)
    except ValueError as exc:  # refused before anything is recorded
        raise UserError(str(exc)) from None
    from plumeline.infra.cli.users import record_key

    print(record_key(args.data_dir, key, user=args.user, role=args.role,
                     expires=now + args.ttl, facilities=facilities, now_s=time.time()))
    return ExitStatus.OK


def token_command(args) -> int:
    if args.token_command == "create":
        return create_token(args)
    if args.token_command in ("list", "revoke"):
        from plumeline.infra.cli.users import revoke

        return revoke(args.data_dir, getattr(args, "id", None))
    store = KeyStore.of(Settings.from_env(data_dir=args.data_dir))
    if args.token_command == "rotate":
        print(store.rotate().kid)
    elif args.token_command == "retire":
        store.retire(args.kid)
    elif args.token_command == "keys":
        current = store.signing().kid
        for kid in store.ring().keys:
            print(kid, "signing" if kid == current else "accepted")
    return ExitStatus.OK
