from plumeline.infra.cli import main
from plumeline.serve.tokens import TokenKey


def test_token_create_prints_a_token_the_data_dirs_key_verifies(tmp_path, capsys):
    argv = ["token", "create", "--role", "operator", "--user", "ada", "--ttl", "60",
            "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    key = TokenKey.load_or_create(tmp_path / "api.key")
    who = key.verify(token, now_s=0)
    assert (who.user, who.role) == ("ada", "operator")
    assert main([*argv[:-2], "--data-dir", str(tmp_path), "--ttl", "0"]) == 2
