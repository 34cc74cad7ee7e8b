"""Issue 10, clean and honest output: one file name per settore (P029), `send` attaches only
the settore's own file (E006), a total SMTP deadline per message (E007), AUTH payloads never
shown, untrusted names printed escaped, no library traceback or warning without --debug,
CSV export neutralised against formula injection."""
from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import around_helpers as H
from lo_helper import lo_inspect, requires_lo

from pegxl.cli import main
from pegxl.mail import (ST_FAILED, ST_WRITTEN, SmtpSettings, send_templates)
from pegxl.report import escape_text, render_text
from pegxl.validators.plan import check_plan
from pegxl.workbook.planfile import write_plan

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Pw-s3greta!#42"


def codes(findings):
    return [f.code for f in findings]


def _with_codes(data, pairs):
    """Rename settori (old -> new) in the Settori and Obiettivi sheets."""
    data = copy.deepcopy(data)
    for old, new in pairs.items():
        for s in data["Settori"]:
            if s["Codice settore"] == old:
                s["Codice settore"] = new
        for o in data["Obiettivi"]:
            if o["Codice settore"] == old:
                o["Codice settore"] = new
    return data


# ------------------------------------------------------------------ P029 file names

@pytest.mark.parametrize("pairs,name,same_template", [
    ({"S01": "S-03", "S03": "S/03"}, "Affari generali", True),     # same code part, same name
    ({"S01": "S-03", "S03": "S/03"}, None, False),                  # same code part only (.eml, ...)
    ({"S01": "s03"}, None, False),                                   # only the case differs
    ({"S01": "S03x", "S03": "s03X"}, "Servizi sociali", True),     # case, and the same name
])
def test_settori_with_one_file_name_are_refused(tmp_path, pairs, name, same_template):
    data = _with_codes(H.plan_data(), pairs)
    if name:
        for s in data["Settori"]:
            s["Settore"] = name if s["Codice settore"] in pairs.values() else s["Settore"]
    write_plan(tmp_path / "piano.xlsx", data)
    _, findings = check_plan(tmp_path / "piano.xlsx")
    p029 = [f for f in findings if f.code == "P029"]
    assert len(p029) == 1, [str(f) for f in findings]
    f = p029[0]
    assert f.is_error and f.sheet == "Settori" and f.cell == "A4" and f.row == 4
    assert "riga 2" in f.message
    if same_template:
        assert "il modello «2024_" in f.message and ".xlsx»" in f.message
    else:
        assert "_invio.eml" in f.message

    # the CLI refuses the plan, and no template is written
    res = CliRunner().invoke(main, ["plan", "check", str(tmp_path / "piano.xlsx")])
    assert res.exit_code == 1 and "P029" in res.output and "cella A4" in res.output
    res = CliRunner().invoke(main, ["templates", str(tmp_path / "piano.xlsx"), "-o", str(tmp_path / "m")])
    assert res.exit_code == 1 and "P029" in res.output
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").iterdir())


def test_distinct_codes_are_not_p029(tmp_path):
    data = _with_codes(H.plan_data(), {"S01": "S-01", "S03": "S_01"})
    write_plan(tmp_path / "piano.xlsx", data)
    _, findings = check_plan(tmp_path / "piano.xlsx")
    assert "P029" not in codes(findings)


# ------------------------------------------------------------ E006 identity of attachments

def test_send_refuses_a_template_with_another_settores_identity(world, tmp_path):
    base, plan_path, plan, templates = world
    folder = tmp_path / "modelli"
    shutil.copytree(base / "modelli", folder)
    # S02's template under S01's name: the right name, someone else's hidden identity
    shutil.copyfile(templates["S02"], folder / templates["S01"].name)
    rep = send_templates(plan, folder, dry_run_dir=tmp_path / "eml", sent_log=tmp_path / "log.jsonl")
    e006 = [f for f in rep.findings if f.code == "E006"]
    assert len(e006) == 1 and e006[0].record == "S01" and e006[0].is_error
    assert "«S02»" in e006[0].message
    by = {o.sector: o for o in rep.outcomes}
    assert by["S01"].status == ST_FAILED and by["S01"].eml is None
    assert by["S02"].status == by["S03"].status == ST_WRITTEN
    assert sorted(p.name for p in (tmp_path / "eml").iterdir()) == ["2024_S02_invio.eml", "2024_S03_invio.eml"]
    assert rep.exit_code == 1

    # end to end: the CLI says so and exits 1
    res = CliRunner().invoke(main, ["send", "--plan", str(plan_path), str(folder), "--dry-run",
                                    str(tmp_path / "eml2"), "--log", str(tmp_path / "log2.jsonl")])
    assert res.exit_code == 1 and "E006" in res.output


def test_send_refuses_a_template_of_another_year(tmp_path):
    base = tmp_path
    plan_path, plan = H.make_plan(base / "a")
    _, old_plan = H.make_plan(base / "b", anno=2023)
    old = H.make_templates(old_plan, base / "old")
    folder = base / "modelli"
    H.make_templates(plan, folder)
    from pegxl.templates import template_name
    shutil.copyfile(old["S03"], folder / template_name(plan, "S03"))
    rep = send_templates(plan, folder, dry_run_dir=base / "eml", sent_log=base / "log.jsonl")
    f = next(f for f in rep.findings if f.code == "E006")
    assert f.record == "S03" and "2023" in f.message


def test_reminder_never_attaches_another_settores_annotated_copy(world, tmp_path):
    base, plan_path, plan, templates = world
    returns = H.fill(plan, templates, tmp_path / "restituiti", sectors=("S01", "S02"), bad=("S01", "S02"))
    from pegxl.validators.returns import validate_returns
    from pegxl.annotate import annotate_files
    v = validate_returns(plan, list(returns.values()))
    written = annotate_files(v.findings, tmp_path / "annotati")
    assert len(written) == 2
    from pegxl.annotate import annotated_name
    s01 = tmp_path / "annotati" / annotated_name(returns["S01"])
    s02 = tmp_path / "annotati" / annotated_name(returns["S02"])
    shutil.copyfile(s02, s01)             # S02's annotated copy under S01's name
    rep = send_templates(plan, base / "modelli", dry_run_dir=tmp_path / "eml",
                         reminders_dir=tmp_path / "restituiti", annotated_dir=tmp_path / "annotati",
                         sent_log=tmp_path / "log.jsonl")
    by = {o.sector: o for o in rep.outcomes}
    assert by["S01"].status == ST_FAILED and any(f.code == "E006" and f.record == "S01" for f in rep.findings)
    assert by["S02"].status == ST_WRITTEN and by["S02"].attachment == s02.name
    assert by["S03"].status == ST_WRITTEN          # missing: its template


def test_unsafe_codes_read_without_check_never_get_each_others_template(tmp_path):
    """The issue's case, with a plan read without `plan check`: S-9 and S:9 of the same name."""
    from pegxl.plan import load_plan
    from pegxl.templates import generate_templates
    data = H.plan_data()
    data["Settori"] += [{"Codice settore": "S-9", "Settore": "Polizia locale", "Responsabile": "A",
                         "Email": "a@comune.example"},
                        {"Codice settore": "S:9", "Settore": "Polizia locale", "Responsabile": "B",
                         "Email": "b@comune.example"}]
    data["Obiettivi"][0]["Codice settore"] = "S01;S-9;S:9"
    write_plan(tmp_path / "piano.xlsx", data)
    plan = load_plan(tmp_path / "piano.xlsx")[0]            # unchecked: `plan check` says P029
    generate_templates(plan, tmp_path / "m")
    rep = send_templates(plan, tmp_path / "m", dry_run_dir=tmp_path / "eml", sent_log=tmp_path / "l.jsonl")
    by = {o.sector: o for o in rep.outcomes}
    assert by["S-9"].status == ST_WRITTEN
    assert by["S:9"].status == ST_FAILED and any(f.code == "E006" and f.record == "S:9" for f in rep.findings)


def test_eml_names_never_collide():
    from pegxl.mail import _eml_name

    class P:
        anno = 2024
    taken: set[str] = set()
    names = [_eml_name(P, c, "invio", taken) for c in ("S-03", "S/03", "s-03", "S01")]
    assert names == ["2024_S-03_invio.eml", "2024_S-03_invio-2.eml", "2024_s-03_invio-3.eml", "2024_S01_invio.eml"]


# ------------------------------------------------------------- SMTP: total deadline

class RawServer:
    """A hand-written SMTP server on 127.0.0.1 for one client. `trickle`: from that step on
    ("greeting", "ehlo", "data") its reply comes one byte every 0.2 s. `auth`: the mechanism
    advertised; every AUTH payload received is echoed back in the 535 reply. It gives up
    by itself after `limit` seconds, so a client without a total deadline fails otherwise
    (disconnected) instead of hanging the test."""

    def __init__(self, trickle: str | None = None, auth: str | None = None, limit: float = 20):
        self.trickle, self.auth, self.limit = trickle, auth, limit
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.payloads: list[str] = []
        self.end = time.monotonic() + limit
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def settings(self, **kw) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, security="none", timeout=10, **kw)

    def close(self):
        self.end = 0
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(5)

    def _serve(self):
        self.sock.settimeout(0.5)
        while time.monotonic() < self.end:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                self._session(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def _send(self, conn, text: str, slow: bool) -> None:
        data = (text + "\r\n").encode()
        if not slow:
            conn.sendall(data)
            return
        for b in data:
            if time.monotonic() > self.end:
                return
            conn.sendall(bytes([b]))
            time.sleep(0.2)

    def _lines(self, conn):
        buf = b""
        conn.settimeout(0.5)
        while time.monotonic() < self.end:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            buf += chunk
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                yield line.decode("utf-8", "replace")

    def _session(self, conn):
        long = "x" * 300
        self._send(conn, f"220 hello {long}" if self.trickle == "greeting" else "220 hello", self.trickle == "greeting")
        in_data = False
        in_auth = False
        for line in self._lines(conn):
            if in_data:
                if line == ".":
                    in_data = False
                    self._send(conn, f"250 accepted {long}", self.trickle == "data")
                continue
            if in_auth:
                self.payloads.append(line)
                if base64.b64decode(line + "===").decode("utf-8", "replace").endswith(PASSWORD):
                    in_auth = False
                    self._send(conn, "535 5.7.8 Authentication failed for " + " ".join(self.payloads), False)
                else:
                    self._send(conn, "334 UGFzc3dvcmQ6", False)
                continue
            cmd = line.split(" ", 1)[0].upper()
            if cmd in ("EHLO", "HELO"):
                if self.trickle == "ehlo":
                    self._send(conn, f"250 hi {long}", True)
                elif self.auth:
                    self._send(conn, f"250-hi\r\n250 AUTH {self.auth}", False)
                else:
                    self._send(conn, "250 hi", False)
            elif cmd == "AUTH":
                parts = line.split()
                if len(parts) > 2:
                    self.payloads.append(parts[2])
                if self.auth == "PLAIN":
                    self._send(conn, f"535 5.7.8 Authentication failed: {line}", False)
                else:
                    in_auth = True
                    self._send(conn, "334 UGFzc3dvcmQ6", False)
            elif cmd in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._send(conn, "250 ok", False)
            elif cmd == "DATA":
                in_data = True
                self._send(conn, "354 go on", False)
            elif cmd == "QUIT":
                self._send(conn, "221 bye", False)
                return
            else:
                self._send(conn, "502 no", False)


@pytest.fixture
def raw_server():
    servers = []

    def start(**kw):
        s = RawServer(**kw)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


@pytest.mark.parametrize("stage", ["greeting", "ehlo", "data"])
def test_a_trickling_server_is_given_up_after_the_deadline(world, raw_server, tmp_path, stage):
    base, plan_path, plan, templates = world
    srv = raw_server(trickle=stage)
    rep = send_templates(plan, base / "modelli", smtp=srv.settings(deadline=1), sent_log=tmp_path / "log.jsonl",
                         sectors=["S01"])
    e007 = [f for f in rep.findings if f.code == "E007"]
    assert len(e007) == 1, [str(f) for f in rep.findings]
    assert e007[0].is_error and "1 secondi" in e007[0].message
    assert rep.outcomes[0].status == ST_FAILED
    assert rep.exit_code == 2


def test_the_deadline_comes_from_the_option_or_the_environment(world, raw_server, tmp_path, monkeypatch):
    base, plan_path, plan, templates = world
    srv = raw_server(trickle="greeting")
    monkeypatch.setenv("PEGXL_SMTP_TIMEOUT", "1")
    res = CliRunner().invoke(main, ["send", "--plan", str(plan_path), str(base / "modelli"), "--smtp-host",
                                    "127.0.0.1", "--smtp-port", str(srv.port), "--security", "none",
                                    "--sector", "S01", "--log", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 2 and "E007" in res.output, res.output
    assert SmtpSettings.from_env(host="h", deadline="2,5", env={}).deadline == 2.5
    assert SmtpSettings.from_env(host="h", env={"PEGXL_SMTP_TIMEOUT": "7"}).deadline == 7
    assert SmtpSettings.from_env(host="h", env={}).deadline == 60
    res = CliRunner().invoke(main, ["send", "--plan", str(plan_path), str(base / "modelli"), "--smtp-host",
                                    "127.0.0.1", "--smtp-timeout", "mai"])
    assert res.exit_code == 2 and "U001" in res.output


# ---------------------------------------------------------- SMTP: AUTH never shown

@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_an_auth_echo_never_shows_the_credentials(world, raw_server, tmp_path, monkeypatch, mechanism):
    base, plan_path, plan, templates = world
    srv = raw_server(auth=mechanism)
    monkeypatch.setenv("PEGXL_SMTP_PASSWORD", PASSWORD)
    res = CliRunner().invoke(main, ["send", "--plan", str(plan_path), str(base / "modelli"), "--smtp-host",
                                    "127.0.0.1", "--smtp-port", str(srv.port), "--security", "none",
                                    "--smtp-user", "controllo", "--log", str(tmp_path / "l.jsonl")])
    assert res.exit_code == 2 and "E004" in res.output, res.output
    assert srv.payloads, "the server saw no AUTH payload"
    assert "535" in res.output
    res_json = CliRunner().invoke(main, ["send", "--plan", str(plan_path), str(base / "modelli"), "--smtp-host",
                                         "127.0.0.1", "--smtp-port", str(srv.port), "--security", "none",
                                         "--smtp-user", "controllo", "--log", str(tmp_path / "l.jsonl"),
                                         "--format", "json"])
    for out in (res.output, res_json.output):
        assert PASSWORD not in out
        for p in srv.payloads:
            assert p not in out and p.rstrip("=") not in out
        assert base64.b64encode(PASSWORD.encode()).decode().rstrip("=") not in out


# ------------------------------------------------------- escaped names from returns

def test_escape_text_shows_control_characters():
    assert escape_text("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert escape_text("\x1b[31mrosso\x1b[0m") == "\\x1b[31mrosso\\x1b[0m"
    assert escape_text("ab\u202ecd\u2066") == "ab\\u202ecd\\u2066"
    assert escape_text("\x85\x9b") == "\\u0085\\u009b"
    assert escape_text("Città «Sì» 1\u00a0000 €") == "Città «Sì» 1\u00a0000 €"   # printable stays
    assert escape_text("x\ny\r\nz\rw", keep_newlines=True) == "x\ny\r\nz\\rw"
    doc = json.dumps({"k": "a\u202eb\x85"}, ensure_ascii=False)
    assert json.loads(escape_text(doc, keep_newlines=True)) == {"k": "a\u202eb\x85"}


FORGED = "S01.xlsx: utilizzabile (nessun problema)"


def _hostile_returns(world, folder: Path) -> Path:
    base, plan_path, plan, templates = world
    folder.mkdir(parents=True, exist_ok=True)
    from pegxl.templates import fill_return
    name = f"evil\n{FORGED}\n\x1b[2J\u202e.xlsx"
    target = folder / name
    fill_return(templates["S02"], target, H.inputs(plan.anno, "S02", bad=True))
    return target


def test_a_file_name_with_a_newline_cannot_forge_a_line(world, tmp_path):
    base, plan_path, plan, templates = world
    target = _hostile_returns(world, tmp_path / "restituiti")
    res = CliRunner().invoke(main, ["validate", "--plan", str(plan_path), str(tmp_path / "restituiti"),
                                    "--annotate", str(tmp_path / "annotati")])
    assert res.exit_code == 1
    lines = res.output.splitlines()
    assert not any(line.startswith("S01.xlsx") for line in lines), res.output
    assert "\x1b" not in res.output and "\u202e" not in res.output
    assert "evil\\nS01.xlsx: utilizzabile" in res.output and "\\x1b[2J\\u202e" in res.output
    # the annotated copy's name is echoed escaped too
    assert any(line.startswith("Copia annotata:") and "\\n" in line for line in lines)
    # JSON keeps the exact name
    res = CliRunner().invoke(main, ["validate", "--plan", str(plan_path), str(tmp_path / "restituiti"),
                                    "--format", "json"])
    doc = json.loads(res.output)
    assert doc["files"][0]["file"] == str(target)
    assert "\u202e" not in res.output                      # written as its \u escape

    res = CliRunner().invoke(main, ["status", "--plan", str(plan_path), str(tmp_path / "restituiti")])
    assert not any(line.lstrip("│ ").startswith("S01.xlsx") for line in res.output.splitlines()), res.output
    assert "\x1b" not in res.output and "\u202e" not in res.output


def test_status_shows_markup_in_names_as_it_is(world, tmp_path):
    base, plan_path, plan, templates = world
    folder = tmp_path / "restituiti"
    folder.mkdir()
    from pegxl.templates import fill_return
    fill_return(templates["S02"], folder / "[red]x.xlsx", H.inputs(plan.anno, "S02"))
    res = CliRunner().invoke(main, ["status", "--plan", str(plan_path), str(folder)])
    assert res.exit_code == 1 and "[red]x.xlsx" in res.output, res.output


def test_render_text_escapes_messages_and_names():
    from pegxl.errors import ErrorCode, finding
    f = finding(ErrorCode.V005, file="a\nb.xlsx", sheet="Obiettivi\x1b", cell="D2", value="x\n\u202e",
                allowed="A, B")
    text = render_text([f])
    assert len(text.splitlines()) == 3 and "a\\nb.xlsx" in text and "x\\n\\u202e" in text


# ----------------------------------------------------- no traceback, no library warning

_RUN = textwrap.dedent('''
    import errno, os, sys, tempfile, warnings
    ro = os.environ["RO_DIR"]
    real = tempfile.mkstemp
    def mkstemp(*a, dir=None, **kw):   # a read-only folder, also for root
        if dir is not None and os.path.abspath(dir).startswith(ro):
            raise PermissionError(errno.EACCES, "Permission denied", dir)
        return real(*a, dir=dir, **kw)
    tempfile.mkstemp = mkstemp
    if os.environ.get("WARN"):
        import pegxl.validators.returns as V
        orig = V.validate_returns
        def noisy(*a, **kw):
            warnings.warn("Data Validation extension is not supported and will be removed", UserWarning)
            return orig(*a, **kw)
        V.validate_returns = noisy
    from pegxl.cli import main
    sys.argv = ["pegxl"] + sys.argv[1:]
    main()
''')


def _pegxl(args, tmp_path, ro, **env):
    script = tmp_path / "run_pegxl.py"
    script.write_text(_RUN)
    e = dict(os.environ, RO_DIR=str(ro), PYTHONWARNINGS="default", **env)
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=e, timeout=300, cwd=str(ROOT))


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    base = tmp_path_factory.mktemp("ro")
    plan_path, plan, templates, returns, result = H.cycle(base)
    return base, plan_path


@pytest.mark.parametrize("command", ["merge", "templates", "annotate"])
def test_a_read_only_output_folder_is_f010_alone(merged, tmp_path, command):
    base, plan_path = merged
    ro = tmp_path / "sola-lettura"
    args = {"merge": ["merge", "--plan", str(plan_path), str(base / "restituiti"), "-o", str(ro)],
            "templates": ["templates", str(plan_path), "-o", str(ro)],
            "annotate": ["validate", "--plan", str(plan_path), str(base / "restituiti" / "x"), "--annotate",
                         str(ro)]}[command]
    if command == "annotate":     # a return with errors, so that a copy is written
        from pegxl.templates import fill_return, template_name
        from pegxl.validators.plan import check_plan as cp
        plan, _ = cp(plan_path)
        (base / "restituiti" / "x").mkdir(exist_ok=True)
        fill_return(base / "modelli" / template_name(plan, "S01"),
                    base / "restituiti" / "x" / "S01.xlsx", H.inputs(plan.anno, "S01", bad=True))
    r = _pegxl(args, tmp_path, ro)
    out = r.stdout + r.stderr
    assert "F010" in out and "permesso negato" in out, out
    assert "Traceback" not in out and "Exception ignored" not in out, out
    assert r.returncode in (1, 2)
    if command == "merge":
        r = _pegxl(["--debug"] + args, tmp_path, ro)
        assert "Traceback" in r.stderr                     # --debug still shows it


def test_library_warnings_do_not_reach_the_terminal(merged, tmp_path):
    base, plan_path = merged
    args = ["validate", "--plan", str(plan_path), str(base / "restituiti")]
    r = _pegxl(args, tmp_path, tmp_path / "none", WARN="1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Warning" not in r.stderr and "extension is not supported" not in r.stdout + r.stderr
    r = _pegxl(["--debug"] + args, tmp_path, tmp_path / "none", WARN="1")
    assert "extension is not supported" in r.stderr


# ------------------------------------------------------------------- CSV injection

def test_csv_export_neutralises_formulas_and_parquet_keeps_the_text(tmp_path):
    from pegxl.export import csv_line, export_tables
    data = H.plan_data()
    data["Obiettivi"][0]["Titolo"] = '=HYPERLINK("http://x","y")'
    data["Settori"][1]["Responsabile"] = "+39 06 123"
    _, plan = H.make_plan(tmp_path, data=data)
    export_tables(plan, tmp_path / "csv")
    text = (tmp_path / "csv" / "obiettivi.csv").read_text(encoding="utf-8-sig")
    assert '"\'=HYPERLINK(' in text
    assert "'+39 06 123" in (tmp_path / "csv" / "settori.csv").read_text(encoding="utf-8-sig")
    assert csv_line([-5, "-5", "-5,5", "+3", "-x", "=1+1", "@a", "\rb", "ok"]) == \
        '-5;"-5";"-5,5";"+3";"\'-x";"\'=1+1";"\'@a";"\'\rb";ok\r\n'
    pytest.importorskip("pyarrow")
    import pandas as pd
    export_tables(plan, tmp_path / "pq", fmt="parquet")
    obj = pd.read_parquet(tmp_path / "pq" / "obiettivi.parquet")
    assert obj["Titolo"].iloc[0] == '=HYPERLINK("http://x","y")'      # the data as it is


def test_status_csv_is_neutralised(world, tmp_path):
    base, plan_path, plan, templates = world
    folder = tmp_path / "restituiti"
    folder.mkdir()
    from pegxl.templates import fill_return
    fill_return(templates["S02"], folder / "=cmd.xlsx", H.inputs(plan.anno, "S02"))
    res = CliRunner().invoke(main, ["status", "--plan", str(plan_path), str(folder), "--format", "csv"])
    assert ';"\'=cmd.xlsx";' in res.output, res.output
    assert "\\r" not in res.output                     # the CRLF line ends are not escaped


@requires_lo
def test_libreoffice_imports_the_exported_formula_as_text(tmp_path):
    from pegxl.export import export_tables
    data = H.plan_data()
    data["Obiettivi"][0]["Titolo"] = '=HYPERLINK("http://example.invalid","clic")'
    data["Obiettivi"][1]["Titolo"] = "@SUM(1+1)"
    _, plan = H.make_plan(tmp_path, data=data)
    export_tables(plan, tmp_path / "csv")
    res = lo_inspect(tmp_path / "csv" / "obiettivi.csv", ["obiettivi!F2", "obiettivi!F3", "obiettivi!B2"],
                     sheets=False)
    cells = res["by_ref"]
    assert cells["obiettivi!F2"]["type"] == "TEXT", cells["obiettivi!F2"]
    assert cells["obiettivi!F2"]["string"] == '\'=HYPERLINK("http://example.invalid","clic")'
    assert cells["obiettivi!F3"]["type"] == "TEXT"
    assert cells["obiettivi!B2"]["type"] == "VALUE" and cells["obiettivi!B2"]["value"] == 2024


def test_demo_into_a_path_under_a_file_is_f010(tmp_path):
    (tmp_path / "un-file").write_text("x")
    res = CliRunner().invoke(main, ["demo", str(tmp_path / "un-file" / "demo")])
    assert res.exit_code == 2 and "F010" in res.output, res.output
    assert "Errore imprevisto" not in res.output and "Traceback" not in res.output


def test_scrub_hides_auth_payloads_it_did_not_send():
    from pegxl.mail.smtp import _scrub
    plain = base64.b64encode(b"\x00ufficio\x00altra-password").decode()
    assert _scrub(f"535 5.7.8 rejected AUTH PLAIN {plain}", []) == "535 5.7.8 rejected AUTH PLAIN ***"
    assert plain not in _scrub(f"535 5.7.8 credentials {plain} refused", [])
    # ordinary words of a reply are left alone
    assert _scrub("535 5.7.8 Authentication credentials invalid", []) == \
        "535 5.7.8 Authentication credentials invalid"


def test_merge_output_escapes_a_file_name_with_a_newline(world, tmp_path):
    """A usable return whose name carries a newline: merge names it (copy, notes) escaped."""
    base, plan_path, plan, templates = world
    from pegxl.templates import fill_return
    folder = tmp_path / "restituiti"
    folder.mkdir()
    for code, path in templates.items():
        name = f"x\n{FORGED}\n{code}.xlsx" if code == "S02" else f"{code}.xlsx"
        fill_return(path, folder / name, H.inputs(plan.anno, code))
    res = CliRunner().invoke(main, ["merge", "--plan", str(plan_path), str(folder),
                                    "-o", str(tmp_path / "out"), "--no-archive"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert not any(line.startswith("S01.xlsx: utilizzabile") for line in lines), res.output
    assert "x\\nS01.xlsx: utilizzabile" in res.output


def test_returns_with_one_name_get_distinct_copies(world, tmp_path):
    """Two settori's returns with the same file name (from two folders): two copies, the
    second named with the settore's code made fit for a file name."""
    base, plan_path, plan, templates = world
    from pegxl.merge import merge
    from pegxl.templates import fill_return
    items = []
    for code, path in templates.items():
        folder = tmp_path / code
        folder.mkdir()
        fill_return(path, folder / "ritorno.xlsx", H.inputs(plan.anno, code))
        items.append(folder)
    result = merge(plan, items, tmp_path / "out")
    names = sorted(p.name for p in result.returned.values())
    assert len(set(names)) == len(templates)
    assert names[0] == "ritorno.xlsx" and all(n.startswith("ritorno_S0") for n in names[1:])


def test_a_settore_left_out_now_loses_its_old_copy(world, tmp_path):
    """A copy written by an earlier merge for a settore that this merge leaves out would sit
    beside the new consolidated workbook with figures it does not hold: it goes."""
    base, plan_path, plan, templates = world
    from pegxl.merge import merge
    from pegxl.templates import fill_return
    folder = tmp_path / "restituiti"
    folder.mkdir()
    for code, path in templates.items():
        fill_return(path, folder / f"{code}.xlsx", H.inputs(plan.anno, code))
    out = tmp_path / "out"
    first = merge(plan, [folder], out)
    assert {p.name for p in first.returned.values()} == {f"{c}.xlsx" for c in templates}
    fill_return(templates["S02"], folder / "S02.xlsx", H.inputs(plan.anno, "S02", bad=True))
    mine = out / "restituiti" / "nota.txt"          # not a copy: never touched
    mine.write_text("mia")
    second = merge(plan, [folder], out, partial=True)
    assert "S02" not in second.returned
    left = {p.name for p in (out / "restituiti").iterdir()}
    assert left == {f"{c}.xlsx" for c in templates if c != "S02"} | {"nota.txt"}
