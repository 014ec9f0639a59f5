"""`plumeline verify` and `export` as an auditor meets them: exit codes and messages."""

from __future__ import annotations

from plumeline.events import AlertRaised, Causation, Envelope, Ledger, SigningKey, write_bundle
from plumeline.infra.cli.main import ExitStatus, main


def _bundle(path, n=20) -> None:
    ledger = Ledger()
    envelopes = [
        Envelope.wrap(
            AlertRaised(facility="ccs-01", alert_id=f"a{i}", sensor="solvent_temp",
                        kind="deviation", severity="minor", value=50.0 + i, baseline=40.0,
                        score=9.0, model="robust-baseline", message="hot"),
            time=1_767_225_600_000 + i, causation=Causation("readings", i + 1, 0),
        )
        for i in range(n)
    ]
    sealed = ledger.seal(envelopes)
    key = SigningKey.generate()
    head = key.sign_head(ledger.size, ledger.tree.root(), 1_767_225_700_000)
    with open(path, "wb") as fp:
        write_bundle(fp, key.public_key_hex, [r.data for r in sealed], [head])


def test_intact_bundle_exits_0(tmp_path, capsys):
    _bundle(tmp_path / "b")
    assert main(["verify", str(tmp_path / "b")]) == ExitStatus.OK
    assert capsys.readouterr().out.startswith("ok: 20 records")


def test_tampered_bundle_exits_1_naming_the_record(tmp_path, capsys):
    _bundle(tmp_path / "b")
    text = (tmp_path / "b").read_bytes().replace(b'"value":57.0', b'"value":5.7', 1)
    (tmp_path / "b").write_bytes(text)
    assert main(["verify", str(tmp_path / "b")]) == ExitStatus.TAMPERED
    err = capsys.readouterr().err
    assert err.startswith("TAMPERED: record") and "Traceback" not in err


def test_unreadable_bundle_exits_2(tmp_path, capsys):
    (tmp_path / "b").write_bytes(b"\x89PNG not a bundle")
    assert main(["verify", str(tmp_path / "b")]) == ExitStatus.ERROR
    assert "cannot read" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "missing")]) == ExitStatus.ERROR


def test_a_data_dir_without_plumeline_is_a_clear_error(tmp_path, capsys):
    assert main(["verify", "--data-dir", str(tmp_path)]) == ExitStatus.ERROR
    assert main(["export", "--data-dir", str(tmp_path), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no ledger key" in err or "no Plumeline data" in err


def test_verifying_a_bundle_file_leaves_the_actors_unimported(tmp_path):
    # plumeline.actors takes seconds to import and starts BLAS threads, after which
    # verify's workers can no longer be forked from the command's own process
    import subprocess
    import sys

    _bundle(tmp_path / "b")
    code = ("import sys; from plumeline.infra.cli.main import main; "
            f"status = main(['verify', {str(tmp_path / 'b')!r}]); "
            "print(status, 'plumeline.actors' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-2:] == ["0", "False"]
