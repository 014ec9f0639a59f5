import os
import stat

import pytest

from plumeline.infra.cli.main import main
from plumeline.infra.runtime.keys import KeyStore
from plumeline.infra.runtime.settings import Settings
from plumeline.serve.tokens import InvalidToken, TokenKey


def _create(capsys, data_dir, *flags) -> str:
    assert main(["token", "create", "--data-dir", str(data_dir), *flags]) == 0
    return capsys.readouterr().out.strip()


def _store(data_dir) -> KeyStore:
    return KeyStore.of(Settings(data_dir=data_dir))


def test_token_create_prints_a_token_the_data_dirs_public_keys_verify(tmp_path, capsys):
    token = _create(capsys, tmp_path, "--role", "operator", "--user", "ada", "--ttl", "60")
    who = _store(tmp_path).ring().verify(token, now_s=0)
    assert (who.user, who.role) == ("ada", "operator")
    signing = Settings(data_dir=tmp_path).api_key_path
    assert stat.S_IMODE(os.stat(signing).st_mode) == 0o600
    assert TokenKey.load_or_create(signing).kid in _store(tmp_path).ring().keys
    argv = ["token", "create", "--role", "operator", "--user", "ada", "--data-dir", str(tmp_path)]
    assert main([*argv, "--ttl", "0"]) == 2


def test_a_device_token_names_its_facilities(tmp_path, capsys):
    argv = ["token", "create", "--role", "device", "--user", "stack-7", "--data-dir",
            str(tmp_path)]
    assert main(argv) == 2
    assert "--facility" in capsys.readouterr().err
    token = _create(capsys, tmp_path, "--role", "device", "--user", "stack-7",
                    "--facility", "f1", "--facility", "f2")
    assert _store(tmp_path).ring().verify(token, 0).facilities == {"f1", "f2"}
    assert main(["token", "create", "--role", "viewer", "--user", "v", "--facility", "f1",
                 "--data-dir", str(tmp_path)]) == 2


def test_rotation_keeps_old_tokens_until_their_key_is_retired(tmp_path, capsys):
    old = _create(capsys, tmp_path, "--role", "viewer", "--user", "ada")
    old_kid = _store(tmp_path).signing().kid
    assert main(["token", "rotate", "--data-dir", str(tmp_path)]) == 0
    new_kid = capsys.readouterr().out.strip()
    assert new_kid != old_kid and _store(tmp_path).signing().kid == new_kid
    new = _create(capsys, tmp_path, "--role", "viewer", "--user", "bob")
    ring = _store(tmp_path).ring()
    assert ring.verify(old, 0).user == "ada" and ring.verify(new, 0).user == "bob"
    assert main(["token", "retire", new_kid, "--data-dir", str(tmp_path)]) == 2  # signing
    assert main(["token", "retire", old_kid, "--data-dir", str(tmp_path)]) == 0
    ring = _store(tmp_path).ring()
    with pytest.raises(InvalidToken, match="unknown or retired key"):
        ring.verify(old, 0)
    assert ring.verify(new, 0).user == "bob"
    capsys.readouterr()
    assert main(["token", "keys", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [new_kid, "signing"]
