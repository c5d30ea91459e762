"""The one-file executable (packaging/build.py): built once per session with PyInstaller, then run
as a user would: ``--version``, ``--help``, ``init``, ``check``, ``provision`` into a temporary
directory, and ``serve`` on free unprivileged ports with a simulated phone registering, started
with the very command line of packaging/skinnyctl.service. The systemd unit is checked by
``systemd-analyze verify``.

The build takes one to three minutes on this machine (see packaging/README.md), hence ``slow``.
"""

from __future__ import annotations

import ast
import io
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomlkit

import skinnyctl
from tests.test_register import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "skinnyctl"
UNIT = ROOT / "packaging" / "skinnyctl.service"
INSTALLED_BINARY = "/usr/local/bin/skinnyctl"
INSTALLED_SITE = "/etc/skinnyctl"

# What the binary must support. A feature listed here is tested and fails when missing; one not
# listed is tested when the binary has it and skipped otherwise. When a feature lands, add its
# name here (one-line change). "reload" = serve re-reads site.toml on SIGHUP (the unit's
# ExecReload) and keeps running.
REQUIRED = {"init", "check", "provision", "serve", "status", "reload"}


def _ci() -> bool:
    return bool(os.environ.get("CI"))


def _missing_tool(reason: str) -> None:
    """Skip, except in CI where every tool must be present."""
    if _ci():
        pytest.fail(f"{reason} (CI is set: nothing may be skipped for a missing tool)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the executable once per session into a temporary directory."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        _missing_tool("PyInstaller is not installed: pip install 'pyinstaller>=6'")
    out = tmp_path_factory.mktemp("pyinstaller")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "packaging" / "build.py"),
         "--dist", str(out / "dist"), "--work", str(out / "work")],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    path = out / "dist" / "skinnyctl"
    print(f"\npackaging: built {path} ({path.stat().st_size / 1e6:.1f} MB) in "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    return path


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> dict[str, str]:
    """Environment with a private TMPDIR, where the one-file executable unpacks itself."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    return dict(os.environ, TMPDIR=str(tmp), COLUMNS="200", NO_COLOR="1")


def run(binary: Path, *args: str | Path, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [str(binary), *map(str, args)], capture_output=True, text=True, timeout=300,
        env=env, cwd=cwd, check=False,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def require(binary: Path, feature: str) -> None:
    """Skip unless the binary has the command ``feature`` (fail if it is REQUIRED)."""
    result = run(binary, feature, "--help")
    if result.returncode == 0:
        return
    if feature in REQUIRED:
        pytest.fail(f"the binary has no '{feature}' command:\n{result.stdout}{result.stderr}")
    pytest.skip(f"the binary has no '{feature}' command yet (add it to REQUIRED when it lands)")


def unit_commands() -> dict[str, list[str]]:
    """ExecStartPre/ExecStart/ExecReload of the unit, split into words."""
    commands: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("ExecStartPre", "ExecStart", "ExecReload"):
            commands[key] = value.split()
    return commands


def as_installed(words: list[str], binary: Path, site: Path) -> list[str]:
    """A unit command line with the installed paths replaced by the test's."""
    mapping = {INSTALLED_BINARY: str(binary), INSTALLED_SITE: str(site)}
    return [mapping.get(w, w) for w in words]


def package_files() -> tuple[set[str], set[str]]:
    """(modules, data files) of the skinnyctl source tree, as PyInstaller names them."""
    modules: set[str] = set()
    data: set[str] = set()
    for path in PACKAGE.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        rel = path.relative_to(ROOT)
        if path.suffix == ".py":
            parts = rel.with_suffix("").parts
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        else:
            data.add(rel.as_posix())
    return modules, data


# ---------------------------------------------------------------------------------------------


def test_version_is_stamped(binary: Path, tmpdir_env: dict[str, str]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    out = ok(run(binary, "--version", env=tmpdir_env))
    assert out.strip() == f"skinnyctl {skinnyctl.__version__}"
    assert skinnyctl.__version__ == pyproject


def test_help_lists_the_commands(binary: Path, tmpdir_env: dict[str, str]) -> None:
    out = ok(run(binary, "--help", env=tmpdir_env))
    assert "Usage: skinnyctl" in out
    for command in sorted(REQUIRED - {"reload"}):
        assert re.search(rf"\b{command}\b", out), f"--help does not list {command}:\n{out}"


def test_bundle_holds_every_module_and_data_file(binary: Path) -> None:
    """Everything under skinnyctl/ is inside: a module or template added later needs no change
    to the spec (commands import their modules lazily, so a missing one would only show when a
    user runs that command)."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(binary))
    pyz = archive.open_embedded_archive("PYZ.pyz")
    modules, data = package_files()
    assert "skinnyctl.cli" in modules and data, "the source tree scan found nothing"
    assert sorted(modules - set(pyz.toc)) == []
    assert sorted(data - set(archive.toc)) == []
    # Byte for byte: the templates the binary renders are the ones in the tree.
    for name in sorted(data):
        assert archive.extract(name) == (ROOT / name).read_bytes(), name


def imported_modules() -> dict[str, str]:
    """Absolute imports in skinnyctl's source: {module: first file importing it}."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_bundle_holds_every_module_skinnyctl_imports(binary: Path) -> None:
    """No import of skinnyctl's (the standard library's included) was excluded or missed: such a
    gap only shows when a user runs the command that needs it."""
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(binary))
    bundled = set(archive.open_embedded_archive("PYZ.pyz").toc)
    with zipfile.ZipFile(io.BytesIO(archive.extract("base_library.zip"))) as base:
        for name in base.namelist():
            parts = Path(name).with_suffix("").parts
            bundled.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    for name in archive.toc:  # extension modules: [python3.11/lib-dynload/]a/b.cpython-*.so
        match = re.fullmatch(r"(?:python3\.\d+/lib-dynload/)?(.+?)\.cpython-[^/]+\.so", name)
        if match:
            bundled.add(match.group(1).replace("/", "."))
    bundled |= set(sys.builtin_module_names) | set(archive.toc)  # toc: the bootstrap modules
    imports = imported_modules()
    assert "typer" in imports, "the source scan found no imports"
    missing = {name: where for name, where in imports.items() if name not in bundled}
    assert missing == {}


def test_init_then_check(binary: Path, tmp_path: Path, tmpdir_env: dict[str, str]) -> None:
    from skinnyctl.site.init import initial_site_text

    site = tmp_path / "site"
    # a given address: what init writes does not depend on this machine's network
    out = ok(run(binary, "init", site, "--address", "192.0.2.10", env=tmpdir_env))
    assert (site / "site.toml").is_file(), out
    assert "ok" in ok(run(binary, "check", site, env=tmpdir_env))
    # The written site is the package's own, byte for byte (the data file came along).
    written = (site / "site.toml").read_bytes()
    assert written == initial_site_text("192.0.2.10").encode()


def test_check_reports_errors_without_traceback(
    binary: Path, tmp_path: Path, tmpdir_env: dict[str, str]
) -> None:
    site = tmp_path / "site"
    ok(run(binary, "init", site, env=tmpdir_env))
    toml = site / "site.toml"
    toml.write_text(toml.read_text().replace('model = "7960"', 'model = "7999"', 1))
    result = run(binary, "check", site, env=tmpdir_env)
    assert result.returncode == 1
    assert re.search(r"site\.toml:\d+:\d+: .*7999", result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    # init refuses to overwrite: a user error, also without a traceback
    again = run(binary, "init", site, env=tmpdir_env)
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert again.stderr.startswith("error: ")


def test_unit_start_check_accepts_an_initialised_site(
    binary: Path, tmp_path: Path, tmpdir_env: dict[str, str]
) -> None:
    """The unit's ExecStartPre (`skinnyctl check /etc/skinnyctl`) passes on what `init` wrote."""
    site = tmp_path / "etc-skinnyctl"
    ok(run(binary, "init", site, env=tmpdir_env))
    ok(
        subprocess.run(
            as_installed(unit_commands()["ExecStartPre"], binary, site),
            capture_output=True,
            text=True,
            timeout=300,
            env=tmpdir_env,
            check=False,
        )
    )


def _provision(binary: Path, site: Path, env: dict[str, str]) -> list[Path]:
    ok(run(binary, "provision", site, env=env))
    from skinnyctl.site import load_site

    loaded = load_site(site / "site.toml")
    root = loaded.server.tftp_root
    root = root if root.is_absolute() else site / root
    expected = [root / "XMLDefault.cnf.xml"] + [
        root / f"SEP{d.mac}.cnf.xml" for d in loaded.devices
    ]
    for path in expected:
        assert path.is_file(), f"provision did not write {path}"
        ET.parse(path)  # well-formed XML
    return expected


def test_provision_matches_python_m_skinnyctl(
    binary: Path, tmp_path: Path, tmpdir_env: dict[str, str]
) -> None:
    """The binary writes the same files as the package run from source."""
    require(binary, "provision")
    frozen, source = tmp_path / "frozen", tmp_path / "source"
    ok(run(binary, "init", frozen, env=tmpdir_env))
    shutil.copytree(frozen, source)
    files = _provision(binary, frozen, tmpdir_env)
    ok(
        subprocess.run(
            [sys.executable, "-m", "skinnyctl", "provision", str(source)],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            check=False,
        )
    )
    for path in files:
        twin = source / path.relative_to(frozen)
        assert path.read_bytes() == twin.read_bytes(), f"{path.name} differs from source's"


# ---------------------------------------------------------------------------------------------
# serve


@pytest.fixture
def served_site(binary: Path, tmp_path: Path, tmpdir_env: dict[str, str]) -> Path:
    """An initialised site on free loopback ports, control socket in the temporary directory."""
    require(binary, "serve")
    site = tmp_path / "etc-skinnyctl"
    ok(run(binary, "init", site, env=tmpdir_env))
    path = site / "site.toml"
    doc = tomlkit.parse(path.read_text())
    server = doc["server"]
    server["listen"] = "127.0.0.1"
    server["addresses"] = ["127.0.0.1"]
    server["sccp_port"] = free_port(socket.SOCK_STREAM)
    server["tftp_port"] = free_port(socket.SOCK_DGRAM)
    server["control_socket"] = str(tmp_path / "control.sock")
    path.write_text(tomlkit.dumps(doc))
    ok(run(binary, "check", site, env=tmpdir_env))
    if run(binary, "provision", "--help", env=tmpdir_env).returncode == 0:
        ok(run(binary, "provision", site, env=tmpdir_env))
    return site


class Served:
    def __init__(self, proc: subprocess.Popen[str], site: Path, log: Path) -> None:
        self.proc, self.site, self.log = proc, site, log
        doc = tomllib.loads((site / "site.toml").read_text())
        self.sccp_port: int = doc["server"]["sccp_port"]
        self.tftp_port: int = doc["server"]["tftp_port"]
        self.macs: list[str] = [d["mac"] for d in doc["devices"]]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_listening(self, deadline: float = 120.0) -> None:
        """Until the SCCP port accepts (the binary unpacks itself first), or the process dies."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.sccp_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"serve did not listen on {self.sccp_port}:\n{self.output()}")


@pytest.fixture
def served(
    binary: Path, served_site: Path, tmp_path: Path, tmpdir_env: dict[str, str]
) -> Iterator[Served]:
    """The binary running the unit's ExecStart line on the served site."""
    yield from _serve(binary, served_site, tmp_path, tmpdir_env)


def _serve(binary: Path, site: Path, tmp_path: Path, env: dict[str, str]) -> Iterator[Served]:
    command = as_installed(unit_commands()["ExecStart"], binary, site)
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True,
                                env=env, start_new_session=True)  # fmt: skip
    s = Served(proc, site, log)
    try:
        s.wait_listening()
        yield s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _register(served: Served, mac: str) -> None:
    from skinnyctl.phone.sim import SimPhone

    with SimPhone("127.0.0.1", served.sccp_port, mac, model="7960") as phone:
        phone.connect(timeout=10)
        registration = phone.register(timeout=10, keepalive=False)
        assert registration.ack.keep_alive_interval > 0
        assert registration.config is not None
        assert registration.config.device_name == "SEP" + re.sub(r"[^0-9A-F]", "", mac.upper())


def test_serve_registers_a_phone_and_stops_on_sigterm(
    served: Served, tmp_path: Path, tmpdir_env: dict[str, str]
) -> None:
    _register(served, served.macs[0])
    # TFTP from the same process: a real client fetches the phone's file (rendered by the binary).
    curl = shutil.which("curl")
    if curl is None:
        _missing_tool("curl is not installed (apt-get install curl)")
    name = "SEP" + re.sub(r"[^0-9A-F]", "", served.macs[0].upper()) + ".cnf.xml"
    fetched = tmp_path / name
    ok(subprocess.run([curl, "-sS", "--max-time", "60", "-o", str(fetched),
                       f"tftp://127.0.0.1:{served.tftp_port}/{name}"],
                      capture_output=True, text=True, timeout=120, check=False))  # fmt: skip
    assert ET.parse(fetched).getroot().tag == "device"
    # systemctl stop: SIGTERM to the main process (the one-file bootloader) ends it cleanly and
    # leaves nothing unpacked behind.
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0, served.output()
    assert "Traceback" not in served.output()
    assert list(Path(tmpdir_env["TMPDIR"]).iterdir()) == []


@pytest.fixture
def has_status(binary: Path) -> None:
    require(binary, "status")


@pytest.fixture
def has_reload() -> None:
    if "reload" not in REQUIRED:
        pytest.skip("serve's SIGHUP reload has not landed (add 'reload' to REQUIRED when it has)")


def test_serve_status_shows_the_registered_phone(
    binary: Path, has_status: None, served: Served, tmpdir_env: dict[str, str]
) -> None:
    """`skinnyctl status` as the install guide runs it, through the control socket."""
    from skinnyctl.phone.sim import SimPhone

    mac = served.macs[0]
    with SimPhone("127.0.0.1", served.sccp_port, mac, model="7960") as phone:
        phone.connect(timeout=10)
        phone.register(timeout=10, keepalive=False)
        ok(run(binary, "status", "--site", served.site, env=tmpdir_env))
        out = ok(run(binary, "status", "devices", "--site", served.site, env=tmpdir_env))
    assert "SEP" + re.sub(r"[^0-9A-F]", "", mac.upper()) in out.upper(), out


def test_serve_reloads_on_sighup(has_reload: None, served: Served) -> None:
    """The unit's ExecReload (kill -HUP $MAINPID): serve keeps running and takes the new site."""
    assert unit_commands()["ExecReload"][-2:] == ["-HUP", "$MAINPID"]
    _register(served, served.macs[0])
    path = served.site / "site.toml"
    doc = tomlkit.parse(path.read_text())
    doc["lines"][0]["display_name"] = "Reloaded"
    path.write_text(tomlkit.dumps(doc))
    served.proc.send_signal(signal.SIGHUP)
    from skinnyctl.phone.sim import SimPhone

    end = time.monotonic() + 60
    label = ""
    while time.monotonic() < end and label != "Reloaded":
        assert served.proc.poll() is None, f"serve died on SIGHUP:\n{served.output()}"
        try:
            with SimPhone("127.0.0.1", served.sccp_port, served.macs[0], model="7960") as phone:
                phone.connect(timeout=10)
                lines = phone.register(timeout=10, keepalive=False).lines
                label = lines[1].line_fully_qualified_display_name if 1 in lines else ""
        except OSError:
            pass  # refused: the next round tells whether serve is gone
        time.sleep(0.2)
    assert label == "Reloaded", served.output()
    assert served.proc.poll() is None, f"serve died after SIGHUP:\n{served.output()}"


@pytest.fixture
def trunk_served(
    binary: Path, served_site: Path, tmp_path: Path, tmpdir_env: dict[str, str]
) -> Iterator[tuple[Served, int, int]]:
    """The served site with a SIP trunk to a SIPp port on loopback and a DID for its first line:
    (served, SIPp's port, our SIP port)."""
    path = served_site / "site.toml"
    doc = tomlkit.parse(path.read_text())
    sipp_port, sip_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    trunk = tomlkit.table()
    trunk.update({"name": "provider", "host": "127.0.0.1", "port": sipp_port,
                  "register": False, "ping": 0, "local_port": sip_port,
                  "allow": ["127.0.0.1/32"]})  # fmt: skip
    doc["trunks"] = tomlkit.aot()
    doc["trunks"].append(trunk)
    inbound = tomlkit.table()
    inbound.update({"did": "+33123456701", "target": doc["lines"][0]["number"]})
    doc["inbound"] = tomlkit.aot()
    doc["inbound"].append(inbound)
    path.write_text(tomlkit.dumps(doc))
    ok(run(binary, "check", served_site, env=tmpdir_env))
    for served in _serve(binary, served_site, tmp_path, tmpdir_env):
        yield served, sipp_port, sip_port


def test_serve_with_a_trunk_takes_a_call_from_sipp(
    binary: Path, trunk_served: tuple[Served, int, int], tmp_path: Path, tmpdir_env: dict[str, str]
) -> None:
    """The SIP stack (sippy, elperiodic's C library for its event loop) and the media engine
    run from the binary: SIPp calls the DID, the phone rings and answers, SIPp hangs up."""
    from skinnyctl.phone.sim import SimPhone
    from skinnyctl.sccp import CallState, CallStateValue, OffHook

    served, sipp_port, sip_port = trunk_served
    sipp = shutil.which("sipp")
    if sipp is None:
        _missing_tool("sipp is not installed (apt-get install sip-tester)")
        return
    trunks = ok(run(binary, "status", "trunks", "--site", served.site, env=tmpdir_env))
    assert "provider" in trunks and "127.0.0.1" in trunks, trunks
    with SimPhone("127.0.0.1", served.sccp_port, served.macs[0], model="7960") as phone:
        phone.connect(timeout=10)
        phone.register(timeout=10, keepalive=False)
        scenario = tmp_path / "caller.xml"
        audio = tmp_path / "tone.wav"
        with audio.open("wb") as f:  # one second of µ-law for SIPp's RTP stream
            data = bytes([0xFF, 0x7F] * 4000)
            f.write(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt ")
            f.write(struct.pack("<IHHIIHH", 16, 7, 1, 8000, 8000, 1, 8))
            f.write(b"data" + struct.pack("<I", len(data)) + data)
        text = (ROOT / "tests" / "sipp" / "caller.xml").read_text()
        scenario.write_text(text.replace("AUDIO_FILE", str(audio)))
        call = subprocess.Popen(
            [sipp, f"127.0.0.1:{sip_port}", "-sf", str(scenario), "-s", "+33123456701",
             "-i", "127.0.0.1", "-p", str(sipp_port), "-mp", str(free_port(socket.SOCK_DGRAM)),
             "-m", "1", "-nostdin", "-timeout", "60"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            ring = phone.wait_for(CallState, 30, lambda m: m.call_state == CallStateValue.RING_IN)
            phone.send(OffHook(line_instance=1, call_reference=ring.call_reference))
            phone.wait_for(CallState, 10, lambda m: m.call_state == CallStateValue.CONNECTED)
            phone.wait_rtp(timeout=10)  # SIPp's stream, through the engine
            phone.wait_for(CallState, 10, lambda m: m.call_state == CallStateValue.ON_HOOK)
            assert call.wait(timeout=30) == 0, call.stderr.read() if call.stderr else ""
        finally:
            if call.poll() is None:
                call.kill()
                call.wait()
    assert "Traceback" not in served.output()


# ---------------------------------------------------------------------------------------------
# systemd unit


def test_unit_passes_systemd_analyze_verify(binary: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        _missing_tool("systemd-analyze is not installed (apt-get install systemd)")
    # verify insists the executables exist: point the unit at the built binary.
    unit = tmp_path / "skinnyctl.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    problems = [ln for ln in (result.stdout + result.stderr).splitlines()
                if "skinnyctl.service" in ln]  # fmt: skip
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def test_unit_runs_unprivileged_with_port_69_and_journal() -> None:
    """The settings the install guide promises, each present exactly once."""
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            settings.setdefault(key.strip(), []).append(value.strip())
    expected = {
        "User": "skinnyctl",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "Restart": "on-failure",
        "StandardOutput": "journal",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "RuntimeDirectory": "skinnyctl",
        "ExecStart": f"{INSTALLED_BINARY} serve {INSTALLED_SITE}",
    }
    for key, value in expected.items():
        assert settings.get(key) == [value], key
    assert set(settings["ReadWritePaths"][0].split()) == {
        "/etc/skinnyctl", "/var/lib/skinnyctl", "/run/skinnyctl",
    }  # fmt: skip
