"""`pegxl send`: templates and reminders by e-mail through a real SMTP server (aiosmtpd on
127.0.0.1, started by each test and stopped by itself), the sent-log, dry runs, and the
password that is never written anywhere."""
from __future__ import annotations

import email
import socket
import threading
from email import policy

import pytest
from click.testing import CliRunner

import around_helpers as H

from pegxl.errors import PegxlError
from pegxl.mail import (KIND_REMINDER, KIND_SEND, ST_ALREADY, ST_FAILED, ST_SENT, ST_SKIPPED,
                        ST_WRITTEN, SmtpSettings, read_sent_log, send_templates)

aiosmtpd = pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

PASSWORD = "Pw-s3greta!#42"
EMAILS = {"S01": "anna.rossi@comune.example", "S02": "luca.bianchi@comune.example",
          "S03": "giulia.verdi@comune.example"}


# ----------------------------------------------------------------------- the server

class Recorder:
    """An SMTP handler that keeps every message; refuses the recipients in `refuse` with 550."""

    def __init__(self, refuse=()):
        self.refuse = set(refuse)
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Destinatario sconosciuto"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=auth_data.password.decode() == PASSWORD)
        return AuthResult(success=False)

    def parsed(self):
        return [(frm, to, email.message_from_bytes(data, policy=policy.default))
                for frm, to, data in self.messages]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """aiosmtpd on 127.0.0.1: stopped by the test, or by itself after `limit` seconds."""

    def __init__(self, handler: Recorder, limit: float = 120):
        self.handler = handler
        self.port = _free_port()
        self.controller = Controller(handler, hostname="127.0.0.1", port=self.port,
                                     authenticator=handler.authenticator, auth_require_tls=False,
                                     ready_timeout=10)
        self._lock = threading.Lock()
        self._running = False
        self._timer = threading.Timer(limit, self.stop)
        self._timer.daemon = True

    def start(self) -> Server:
        self.controller.start()
        self._running = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._running:
                self._running = False
                self.controller.stop()
        self._timer.cancel()

    def settings(self, **kw) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.port, security="none", timeout=10, **kw)


@pytest.fixture
def server():
    servers: list[Server] = []

    def start(refuse=()):
        s = Server(Recorder(refuse)).start()
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


# ------------------------------------------------------------------------ the world

def _attachments(msg) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_content()) for part in msg.iter_attachments()]


# ---------------------------------------------------------------------------- tests

def test_sends_each_template_to_its_responsabile(world, server, tmp_path):
    base, plan_path, plan, templates = world
    srv = server()
    log = tmp_path / "invii.jsonl"
    rep = send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log)
    assert rep.exit_code == 0, rep.to_text()
    assert [o.status for o in rep.outcomes] == [ST_SENT] * 3
    got = srv.handler.parsed()
    assert len(got) == 3
    by_to = {to[0]: msg for _, to, msg in got}
    assert set(by_to) == set(EMAILS.values())
    for sector, address in EMAILS.items():
        msg = by_to[address]
        subject = msg["Subject"]
        assert "Comune di Prova" in subject and "2024" in subject
        assert "Rendicontazione finale" in subject and "28/02/2025" in subject
        assert sector in subject
        body = msg.get_body(("plain",)).get_content()
        assert plan.sector(sector)["manager"] in body
        assert "28/02/2025" in body and "Comune di Prova" in body
        assert "controllo@comune.example" in body
        assert msg["From"] == "controllo@comune.example"
        (name, data), = _attachments(msg)
        assert name == templates[sector].name
        assert data == templates[sector].read_bytes()          # byte-identical
    records = read_sent_log(log)
    assert [r["settore"] for r in records] == ["S01", "S02", "S03"]
    import hashlib
    for r in records:
        assert r["kind"] == KIND_SEND
        assert r["sha256"] == hashlib.sha256(templates[r["settore"]].read_bytes()).hexdigest()
        assert r["attachment"] == templates[r["settore"]].name
        assert r["message_id"].startswith("<") and r["timestamp"] and r["to"] == EMAILS[r["settore"]]
        assert r["subject"]


def test_second_run_sends_nothing_and_force_resends(world, server, tmp_path):
    base, plan_path, plan, templates = world
    srv = server()
    log = tmp_path / "invii.jsonl"
    send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log)
    assert len(srv.handler.messages) == 3
    again = send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log)
    assert len(srv.handler.messages) == 3                     # nothing new reached the server
    assert [o.status for o in again.outcomes] == [ST_ALREADY] * 3
    assert "già inviati" in again.to_text() and "--force" in again.to_text()
    assert again.exit_code == 0
    assert len(read_sent_log(log)) == 3
    forced = send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log, force=True)
    assert [o.status for o in forced.outcomes] == [ST_SENT] * 3
    assert len(srv.handler.messages) == 6 and len(read_sent_log(log)) == 6


def test_refused_recipient_is_reported_and_the_others_go(world, server, tmp_path):
    base, plan_path, plan, templates = world
    srv = server(refuse={EMAILS["S02"]})
    log = tmp_path / "invii.jsonl"
    rep = send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log)
    status = {o.sector: o.status for o in rep.outcomes}
    assert status == {"S01": ST_SENT, "S02": ST_FAILED, "S03": ST_SENT}
    assert [f.code for f in rep.findings] == ["E002"]
    assert "550" in rep.findings[0].message and EMAILS["S02"] in rep.findings[0].message
    assert rep.exit_code == 1
    delivered = sorted(to[0] for _, to, _ in srv.handler.messages)
    assert delivered == sorted([EMAILS["S01"], EMAILS["S03"]])
    assert [r["settore"] for r in read_sent_log(log)] == ["S01", "S03"]
    # the address is fixed on the server side: a new run sends only the one that failed
    srv.handler.refuse.clear()
    rep = send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log)
    assert {o.sector: o.status for o in rep.outcomes} == {"S01": ST_ALREADY, "S02": ST_SENT, "S03": ST_ALREADY}
    assert len(srv.handler.messages) == 3


def test_connection_failure_is_E004(world, tmp_path):
    base, plan_path, plan, templates = world
    port = _free_port()     # nothing listens there
    rep = send_templates(plan, base / "modelli", sent_log=tmp_path / "l.jsonl",
                         smtp=SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=5))
    assert [f.code for f in rep.findings] == ["E004"]
    assert rep.exit_code == 2
    assert all(o.status == ST_FAILED for o in rep.outcomes)
    assert not (tmp_path / "l.jsonl").exists()


def test_dry_run_writes_eml_files_that_parse(world, tmp_path):
    base, plan_path, plan, templates = world
    out = tmp_path / "eml"
    log = tmp_path / "invii.jsonl"
    rep = send_templates(plan, base / "modelli", dry_run_dir=out, sent_log=log)
    assert [o.status for o in rep.outcomes] == [ST_WRITTEN] * 3
    files = sorted(out.glob("*.eml"))
    assert [f.name for f in files] == ["2024_S01_invio.eml", "2024_S02_invio.eml", "2024_S03_invio.eml"]
    for f, sector in zip(files, ("S01", "S02", "S03")):
        msg = email.message_from_bytes(f.read_bytes(), policy=policy.default)
        assert msg["To"] == EMAILS[sector]
        assert "Comune di Prova" in msg["Subject"]
        (name, data), = _attachments(msg)
        assert data == templates[sector].read_bytes()
    assert not log.exists()          # nothing was sent, nothing is logged


def test_custom_body_and_bad_placeholder(world, tmp_path):
    base, plan_path, plan, templates = world
    body = tmp_path / "testo.txt"
    body.write_text("Oggetto: [$ente] modello $settore per la $fase $anno\n\n"
                    "Caro $responsabile, entro il $scadenza. $ufficio ($email_ufficio)\n", encoding="utf-8")
    rep = send_templates(plan, base / "modelli", dry_run_dir=tmp_path / "eml", body_template=body,
                         sent_log=tmp_path / "l.jsonl")
    msg = email.message_from_bytes((tmp_path / "eml" / "2024_S02_invio.eml").read_bytes(), policy=policy.default)
    assert msg["Subject"] == "[Comune di Prova] modello S02 per la Rendicontazione finale 2024"
    text = msg.get_body(("plain",)).get_content()
    assert "Caro Luca Bianchi, entro il 28/02/2025. Controllo di gestione (controllo@comune.example)" in text
    assert rep.exit_code == 0

    body.write_text("Oggetto: $ente\n\nScadenza: $scadnza\n", encoding="utf-8")
    with pytest.raises(PegxlError) as exc:
        send_templates(plan, base / "modelli", dry_run_dir=tmp_path / "eml2", body_template=body)
    assert exc.value.findings[0].code == "E005" and "scadnza" in exc.value.findings[0].message
    assert not (tmp_path / "eml2").exists()      # nothing written when the text is broken

    body.write_text("Niente oggetto\n\ncorpo\n", encoding="utf-8")
    with pytest.raises(PegxlError) as exc:
        send_templates(plan, base / "modelli", dry_run_dir=tmp_path / "eml3", body_template=body)
    assert exc.value.findings[0].code == "E005"


def test_missing_address_and_missing_template(tmp_path, server):
    data = H.plan_data()
    data["Settori"][1]["Email"] = None
    plan_path, plan = H.make_plan(tmp_path, data=data)
    templates = H.make_templates(plan, tmp_path / "modelli")
    templates["S03"].unlink()
    srv = server()
    rep = send_templates(plan, tmp_path / "modelli", smtp=srv.settings(), sent_log=tmp_path / "l.jsonl")
    status = {o.sector: o.status for o in rep.outcomes}
    assert status == {"S01": ST_SENT, "S02": ST_FAILED, "S03": ST_FAILED}
    assert sorted(f.code for f in rep.findings) == ["E001", "E003"]
    assert len(srv.handler.messages) == 1
    assert rep.exit_code == 1


def test_reminders_only_to_missing_and_with_errors(world, server, tmp_path):
    from pegxl.annotate import annotate_files, annotated_name
    from pegxl.validators.returns import validate_returns
    base, plan_path, plan, templates = world
    returns = H.fill(plan, templates, tmp_path / "ritorni", sectors=("S01", "S02"), bad=("S02",))
    v = validate_returns(plan, [tmp_path / "ritorni"])
    annotated = annotate_files(v.findings, tmp_path / "annotati")
    ann = tmp_path / "annotati" / annotated_name(returns["S02"])
    assert ann in annotated
    srv = server()
    log = tmp_path / "invii.jsonl"
    rep = send_templates(plan, base / "modelli", smtp=srv.settings(), reminders_dir=tmp_path / "ritorni",
                         annotated_dir=tmp_path / "annotati", sent_log=log)
    status = {o.sector: o.status for o in rep.outcomes}
    assert status == {"S01": ST_SKIPPED, "S02": ST_SENT, "S03": ST_SENT}
    got = {to[0]: msg for _, to, msg in srv.handler.parsed()}
    assert set(got) == {EMAILS["S02"], EMAILS["S03"]}
    s02, s03 = got[EMAILS["S02"]], got[EMAILS["S03"]]
    assert "SOLLECITO" in s02["Subject"] and "1 errore" in s02["Subject"]
    assert "non ancora consegnato" in s03["Subject"]
    (name, data), = _attachments(s02)
    assert name == ann.name and data == ann.read_bytes()      # the annotated copy
    (name, data), = _attachments(s03)
    assert name == templates["S03"].name and data == templates["S03"].read_bytes()
    assert "Errori" in s02.get_body(("plain",)).get_content()
    assert {r["kind"] for r in read_sent_log(log)} == {KIND_REMINDER}
    # a reminder does not count as the first sending, and is not repeated either
    again = send_templates(plan, base / "modelli", smtp=srv.settings(), reminders_dir=tmp_path / "ritorni",
                           annotated_dir=tmp_path / "annotati", sent_log=log)
    assert {o.sector: o.status for o in again.outcomes}["S03"] == ST_ALREADY
    assert len(srv.handler.messages) == 2


def test_password_from_env_used_and_never_written(world, server, tmp_path, cli, monkeypatch):
    base, plan_path, plan, templates = world
    srv = server()
    work = tmp_path / "ufficio"
    work.mkdir()
    import shutil
    shutil.copy(plan_path, work / "piano.xlsx")
    shutil.copytree(base / "modelli", work / "modelli")
    monkeypatch.setenv("PEGXL_SMTP_PASSWORD", PASSWORD)
    monkeypatch.delenv("PEGXL_SMTP_HOST", raising=False)
    runner = CliRunner()
    args = ["send", "--plan", str(work / "piano.xlsx"), str(work / "modelli"), "--smtp-host", "127.0.0.1",
            "--smtp-port", str(srv.port), "--security", "none", "--smtp-user", "ufficio",
            "--from", "performance@comune.example"]
    res = runner.invoke(cli, args + ["--format", "json"])
    assert res.exit_code == 0, res.output
    assert srv.handler.logins == [("ufficio", PASSWORD)]        # the password was used...
    assert len(srv.handler.messages) == 3
    assert all(frm == "performance@comune.example" for frm, _, _ in srv.handler.messages)
    log = work / "piano.invii.jsonl"                            # default: beside the plan
    assert len(read_sent_log(log)) == 3
    res2 = runner.invoke(cli, args)
    assert res2.exit_code == 0 and "già inviati" in res2.output
    res3 = runner.invoke(cli, args + ["--dry-run", str(work / "eml"), "--force"])
    assert res3.exit_code == 0
    assert len(list((work / "eml").glob("*.eml"))) == 3
    # ...and never written: not in the sent-log, the .eml files, any file, any output
    secret = PASSWORD.encode()
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert secret not in f.read_bytes(), f
    for r in (res, res2, res3):
        assert PASSWORD not in r.output
    assert PASSWORD not in repr(srv.settings(password=PASSWORD))


def test_wrong_password_is_a_connection_failure(world, server, tmp_path):
    base, plan_path, plan, templates = world
    srv = server()
    rep = send_templates(plan, base / "modelli", sent_log=tmp_path / "l.jsonl",
                         smtp=srv.settings(user="ufficio", password="sbagliata-xyz"))
    assert [f.code for f in rep.findings] == ["E004"]
    assert "sbagliata-xyz" not in rep.to_text() and "sbagliata-xyz" not in rep.to_json()
    assert srv.handler.messages == []


def test_settings_from_env(monkeypatch):
    env = {"PEGXL_SMTP_HOST": "smtp.comune.example", "PEGXL_SMTP_SECURITY": "ssl",
           "PEGXL_SMTP_USER": "u", "PEGXL_SMTP_FROM": "a@comune.example"}
    s = SmtpSettings.from_env(env=env, prompt=lambda text: "dal-terminale")
    assert (s.host, s.port, s.security, s.user, s.sender) == ("smtp.comune.example", 465, "ssl", "u",
                                                               "a@comune.example")
    assert s.password == "dal-terminale" and "dal-terminale" not in repr(s)
    s = SmtpSettings.from_env(env=dict(env, PEGXL_SMTP_PASSWORD="p"), port=2525, security="starttls")
    assert (s.port, s.security, s.password) == (2525, "starttls", "p")
    with pytest.raises(PegxlError):
        SmtpSettings.from_env(env={})
    with pytest.raises(PegxlError):
        SmtpSettings.from_env(env={"PEGXL_SMTP_HOST": "h", "PEGXL_SMTP_SECURITY": "tls13"})


def test_print_body_shows_the_default_text(cli):
    res = CliRunner().invoke(cli, ["send", "--print-body", "invio"])
    assert res.exit_code == 0
    assert res.output.startswith("Oggetto: ") and "$scadenza" in res.output and "$responsabile" in res.output
    res = CliRunner().invoke(cli, ["send", "--print-body", "sollecito"])
    assert res.exit_code == 0 and "SOLLECITO" in res.output.splitlines()[0]


def test_templates_made_again_from_the_same_plan_are_not_sent_again(world, server, tmp_path):
    """`pegxl templates` run a second time writes new bytes (a new «Generato il» stamp)
    but the same templates: the settori must not get a second, identical e-mail. A
    template whose content changed is sent."""
    import time
    base, plan_path, plan, templates = world
    srv = server()
    log = tmp_path / "invii.jsonl"
    first = tmp_path / "modelli"
    H.make_templates(plan, first)
    send_templates(plan, first, smtp=srv.settings(), sent_log=log)
    assert len(srv.handler.messages) == 3
    time.sleep(1.1)
    again = tmp_path / "modelli-bis"
    H.make_templates(plan, again)
    name = templates["S01"].name
    assert (again / name).read_bytes() != (first / name).read_bytes()
    rep = send_templates(plan, again, smtp=srv.settings(), sent_log=log)
    assert [o.status for o in rep.outcomes] == [ST_ALREADY] * 3, rep.to_text()
    assert len(srv.handler.messages) == 3
    # a different plan for S02 (a phase described otherwise): its template is new and goes
    data = H.plan_data()
    data["Fasi"][2]["Descrizione"] = "Solleciti e ingiunzioni"
    _, plan2 = H.make_plan(tmp_path / "piano2", data=data)
    changed = tmp_path / "modelli-ter"
    H.make_templates(plan2, changed)
    rep = send_templates(plan2, changed, smtp=srv.settings(), sent_log=log)
    assert {o.sector: o.status for o in rep.outcomes} == {"S01": ST_ALREADY, "S02": ST_SENT, "S03": ST_ALREADY}


def test_a_sent_log_that_cannot_be_written_stops_the_run(world, server, tmp_path, monkeypatch):
    """A message the server accepted but the log could not record would go again next
    time: the run stops at once, says which message is unrecorded, exit 2."""
    import pegxl.mail as M
    base, plan_path, plan, templates = world
    srv = server()

    def full_disk(path, record):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(M, "_append_log", full_disk)
    rep = send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=tmp_path / "invii.jsonl")
    assert len(srv.handler.messages) == 1
    assert [o.status for o in rep.outcomes] == [ST_SENT, ST_FAILED, ST_FAILED]
    (f,) = rep.findings
    assert f.code == "F010" and "spazio su disco esaurito" in f.message and "S01" in f.message
    assert rep.exit_code == 2


def test_an_unreadable_sent_log_sends_nothing(world, server, tmp_path):
    base, plan_path, plan, templates = world
    srv = server()
    log = tmp_path / "invii.jsonl"
    log.mkdir()           # not a file: what was sent cannot be known
    with pytest.raises(PegxlError) as exc:
        send_templates(plan, base / "modelli", smtp=srv.settings(), sent_log=log)
    assert exc.value.findings[0].code == "F001" and exc.value.exit_code == 2
    assert srv.handler.messages == []
