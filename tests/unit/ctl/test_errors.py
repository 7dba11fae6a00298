"""Each failure: one line on stderr, its own exit code, nothing written."""

import pytest
from click.testing import CliRunner

from xendix import errors
from xendix.cli import main
from xendix.host import Host
from xendix.xenstore import PyxsStore


def run(host, *args, env=None):
    return CliRunner().invoke(main, list(args), obj=host, env=env)


COMMANDS = [("status",), ("enable", "web", "xvdb"), ("disable", "--all"), ("devices",),
            ("apply", "1/51728"), ("monitor", "--count", "1")]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_not_root(host, store, cmd):
    store.add_vbd(1, 51728, "xvdb")
    host.euid = lambda: 65534
    r = run(host, *cmd)
    assert (r.exit_code, r.stderr) == (errors.NOT_ROOT, "xendix: must be run as root\n")
    assert store.committed == []


@pytest.mark.parametrize("cmd", COMMANDS)
def test_not_dom0(host, store, proc, cmd):
    (proc / "xen" / "capabilities").write_text("\n")
    r = run(host, *cmd)
    assert r.exit_code == errors.NOT_DOM0
    assert r.stderr.startswith("xendix: not dom0:") and r.stderr.count("\n") == 1


def test_not_dom0_without_xenfs(host, proc):
    (proc / "xen" / "capabilities").unlink()
    assert run(host, "status").exit_code == errors.NOT_DOM0


def test_no_xenstored_socket(host, tmp_path):
    host.connect = lambda: PyxsStore(str(tmp_path / "missing"))
    r = run(host, "status")
    assert r.exit_code == errors.NO_XENSTORE
    assert r.stderr == f"xendix: no xenstored: {tmp_path / 'missing'} does not exist\n"


def test_xenstored_refusing_connections(host, tmp_path):
    import socket
    path = str(tmp_path / "sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)  # bound, never listening: connect() is refused
    try:
        host.connect = lambda: PyxsStore(path)
        r = run(host, "status")
    finally:
        s.close()
    assert r.exit_code == errors.NO_XENSTORE
    assert r.stderr.startswith(f"xendix: no xenstored at {path}:") and r.stderr.count("\n") == 1


def test_the_socket_comes_from_xenstored_path(monkeypatch, tmp_path):
    monkeypatch.setenv("XENSTORED_PATH", str(tmp_path / "x"))
    with pytest.raises(errors.NoXenstore):
        PyxsStore()


@pytest.mark.parametrize("cmd, message", [
    (("status", "nosuch"), "xendix: unknown domain 'nosuch'\n"),
    (("status", "web", "xvdz"), "xendix: domain 'web' has no vdev 'xvdz'\n"),
    (("enable", "nosuch", "xvdb"), "xendix: unknown domain 'nosuch'\n"),
    (("disable", "web", "xvdc"), "xendix: domain 'web' has no vdev 'xvdc'\n"),
    (("apply", "web", "xvdc"), "xendix: domain 'web' has no vdev 'xvdc'\n"),
    (("apply", "1/51744"), "xendix: no vbd 1/51744 in dom0's backend directory\n"),
    (("apply", "nosuch", "xvdb"), "xendix: unknown domain 'nosuch'\n"),
])
def test_unknown_domain_or_vdev(host, store, cmd, message):
    store.add_vbd(1, 51728, "xvdb")
    r = run(host, *cmd)
    assert (r.exit_code, r.stderr) == (errors.UNKNOWN_TARGET, message)
    assert store.committed == []


def test_a_malformed_policy_writes_nothing(host, store, tmp_path):
    store.add_vbd(1, 51728, "xvdb")
    bad = tmp_path / "p.toml"
    bad.write_text('[default]\ndix = "sometimes"\n')
    r = run(host, "apply", "--policy", str(bad), "1/51728")
    assert r.exit_code == errors.BAD_POLICY
    assert r.stderr == f"xendix: {bad}: [default]: dix must be one of on, off, auto, not 'sometimes'\n"
    assert store.committed == []
    r = run(host, "apply", "1/51728", env={"XENDIX_POLICY": str(tmp_path / "gone.toml")})
    assert (r.exit_code, r.stderr) == (errors.BAD_POLICY,
                                       f"xendix: policy file {tmp_path / 'gone.toml'} does not exist\n")


@pytest.mark.parametrize("cmd", [("status", "web", "xvdb", "c"), ("frobnicate",), ("apply", "bogus"),
                                 ("status", "web", "floppy"), ("disable", "--all", "web", "xvdb")])
def test_usage_errors_are_exit_2_in_one_line(host, cmd):
    """click's own (an extra argument, no such command) as much as ours."""
    r = run(host, *cmd)
    assert r.exit_code == errors.USAGE
    assert r.stderr.startswith("xendix: ") and r.stderr.count("\n") == 1 and r.stdout == ""


def test_every_exit_code_is_its_own_and_in_the_table():
    codes = [v for k, v in vars(errors).items() if k.isupper() and type(v) is int]
    assert len(codes) == len(set(codes)) == len(errors.EXIT_CODES)
    assert set(codes) == set(errors.EXIT_CODES)
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.XendixError):
            assert cls.exit_code in errors.EXIT_CODES, cls


def test_help_documents_every_exit_code(host):
    out = run(host, "--help").output
    for code, what in errors.EXIT_CODES.items():
        assert f"{code}  {what}" in out
    for word in ("protected", "unsupported-disk", "old-frontend", "old-backend", "not-connected"):
        assert word in out


def test_the_default_host_is_the_real_system():
    h = Host()
    assert str(h.sysfs) == "/sys" and str(h.proc) == "/proc"


def test_the_readme_documents_every_exit_code():
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## The control plane: xendix")[1].split("\n## ")[0]
    for code in errors.EXIT_CODES:
        assert f"\n| {code} | " in section
