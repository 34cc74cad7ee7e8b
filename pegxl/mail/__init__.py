"""`pegxl send`: one e-mail per settore with its template, and reminders to latecomers.

- Every message goes to the settore's responsabile (Email of the Settori sheet) with the
  settore's own template attached, found by `template_name(plan, sector)` and attached only
  if its hidden identity sheet names that settore of this plan's ente, anno and fase
  (else E006: the name alone proves nothing). Annotated copies likewise (ente, anno).
- Each message has a total deadline (connect, greeting, TLS, login, sending; 60 s,
  --smtp-timeout or PEGXL_SMTP_TIMEOUT), enforced by a watchdog even against a server that
  trickles bytes (E007). Server replies are shown without the password and without any
  AUTH payload (base64 credentials) echoed back.
- Subject and body come from a text template the office can edit (string.Template): the
  first line is `Oggetto: ...`, then a blank line, then the body. The shipped defaults are
  pegxl/data/mail_default.txt (invio) and pegxl/data/mail_sollecito.txt (sollecito).
  Placeholders: $ente $anno $fase $scadenza $settore $settore_nome $responsabile $ufficio
  $email_ufficio $allegato, and for reminders also $stato $errori $istruzioni. An unknown
  placeholder is E005 and nothing is sent.
- Reminders (`reminders_dir`): only the settori that `pegxl.status` finds missing or with
  errors; a settore with errors gets its annotated copy `<stem>_errori.xlsx` from
  `annotated_dir` (or `<reminders_dir>/annotati`) when there is one, else its template.
- A refused message (E002) is reported and the others still go; a failed connection is
  E004 and nothing more is tried.
- The sent-log (JSON lines, `<plan stem>.invii.jsonl` beside the plan) gets one record per
  message sent, written as soon as the server has accepted it. A message whose (settore,
  kind, attachment SHA-256) is already in the log is not sent again unless `force`.
- The SMTP password comes only from PEGXL_SMTP_PASSWORD or an interactive prompt; it is
  kept in memory, never written to a file, a log, the sent-log or a report.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import os
import re
import smtplib
import ssl
import string
from dataclasses import dataclass, field
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterable, TypeGuard

from .. import __version__
from ..annotate import annotated_name
from ..errors import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNUSABLE,
    ErrorCode,
    Finding,
    PegxlError,
    finding,
    os_detail,
    show_value,
)
from ..ingest import read_identity
from ..plan import Plan, template_name
from ..report import escape_text as e
from ..report import json_text, render_text
from ..status import STATE_ERRORS, STATE_MISSING, STATE_MULTIPLE, status
from ..values import parse_number, safe_code
from ..workbook import contract as C
from ..workbook.io import atomic_write_bytes
from ..workbook.reader import read_values
from .smtp import ENV_FROM, SmtpSettings  # noqa: F401 (the settings are part of pegxl.mail)
from .smtp import DeadlineExceeded, _Connection, _smtp_detail

KIND_SEND = "invio"
KIND_REMINDER = "sollecito"

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


ST_SENT = "inviato"
ST_WRITTEN = "scritto"            # dry run: .eml written
ST_ALREADY = "già inviato"
ST_FAILED = "non inviato"
ST_SKIPPED = "escluso"

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


# ------------------------------------------------------------------------ templates

@dataclass
class MailTemplate:
    subject: string.Template
    body: string.Template
    source: str

    @classmethod
    def parse(cls, text: str, source: str) -> MailTemplate:
        text = text.lstrip("\ufeff").replace("\r\n", "\n")
        first, _, rest = text.partition("\n")
        m = re.match(r"^\s*oggetto\s*:\s*(.*)$", first, re.IGNORECASE)
        if not m or not m.group(1).strip():
            raise PegxlError(finding(ErrorCode.E005, file=source,
                                     detail="la prima riga deve essere «Oggetto: ...»"), exit_code=EXIT_UNUSABLE)
        return cls(string.Template(m.group(1).strip()), string.Template(rest.strip("\n") + "\n"), source)

    def render(self, values: dict[str, str]) -> tuple[str, str]:
        try:
            subject = self.subject.substitute(values)
            body = self.body.substitute(values)
        except KeyError as exc:
            raise PegxlError(finding(ErrorCode.E005, file=self.source,
                                     detail=f"segnaposto sconosciuto ${exc.args[0]} (ammessi: "
                                            + ", ".join("$" + k for k in sorted(values)) + ")"),
                             exit_code=EXIT_UNUSABLE) from None
        except ValueError as exc:
            raise PegxlError(finding(ErrorCode.E005, file=self.source,
                                     detail=f"«$» non seguito da un nome ({exc}); scrivere $$ per il simbolo $"),
                             exit_code=EXIT_UNUSABLE) from None
        return " ".join(subject.split()), body


def default_template_text(kind: str = KIND_SEND) -> str:
    name = "mail_default.txt" if kind == KIND_SEND else "mail_sollecito.txt"
    return (resources.files("pegxl") / "data" / name).read_text(encoding="utf-8")


def load_template(body_template: str | os.PathLike | None, kind: str) -> MailTemplate:
    if body_template is None:
        return MailTemplate.parse(default_template_text(kind), f"pegxl/data/{'mail_default.txt' if kind == KIND_SEND else 'mail_sollecito.txt'}")
    p = Path(body_template)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = p.read_text(encoding="cp1252")   # a file saved by Notepad on an older Windows
    except OSError as exc:
        raise PegxlError(finding(ErrorCode.F001, file=str(p), detail=os_detail(exc)),
                         exit_code=EXIT_UNUSABLE) from exc
    return MailTemplate.parse(text, str(p))


# ------------------------------------------------------------------------- outcomes

@dataclass
class Outcome:
    """One message: sent, written (dry run), already sent, failed, or skipped."""

    sector: str
    kind: str
    status: str
    to: str | None = None
    subject: str | None = None
    attachment: str | None = None
    sha256: str | None = None
    message_id: str | None = None
    eml: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SendReport:
    outcomes: list[Outcome] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    log_path: str | None = None
    dry_run: bool = False
    kind: str = KIND_SEND
    connection_failed: bool = False
    log_failed: bool = False

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def sent(self) -> list[Outcome]:
        return self.by_status(ST_SENT)

    @property
    def exit_code(self) -> int:
        if self.connection_failed or self.log_failed:
            return EXIT_UNUSABLE
        return EXIT_PROBLEMS if any(f.is_error for f in self.findings) else EXIT_OK

    def to_text(self) -> str:
        lines = []
        for o in self.outcomes:
            what = f"{e(o.sector)}: {o.status}"
            if o.to:
                what += f" a {e(o.to)}"
            if o.attachment:
                what += f" (allegato {e(o.attachment)})"
            if o.eml:
                what += f" -> {e(o.eml)}"
            if o.detail:
                what += f" — {e(o.detail)}"
            lines.append(what)
        verb = "scritti" if self.dry_run else "inviati"
        n = len(self.by_status(ST_WRITTEN if self.dry_run else ST_SENT))
        lines.append(f"Messaggi {verb}: {n}; già inviati in precedenza: {len(self.by_status(ST_ALREADY))}; "
                     f"non inviati: {len(self.by_status(ST_FAILED))}; esclusi: {len(self.by_status(ST_SKIPPED))}.")
        if self.by_status(ST_ALREADY):
            lines.append("I messaggi già inviati non sono stati ripetuti (usare --force per rinviarli).")
        if self.log_path and not self.dry_run:
            lines.append(f"Registro invii: {self.log_path}")
        if self.findings:
            lines.append(render_text(self.findings))
        return "\n".join(lines)

    def to_json(self) -> str:
        doc = {"schema": "pegxl-send", "version": "1", "pegxl": __version__, "kind": self.kind,
               "dry_run": self.dry_run, "log": self.log_path,
               "messages": [o.to_dict() for o in self.outcomes],
               "findings": [f.to_dict() for f in self.findings]}
        return json_text(doc)


# ------------------------------------------------------------------------- sent-log

def default_log_path(plan: Plan) -> Path:
    if plan.path:
        p = Path(plan.path)
        return p.with_name(f"{p.stem}.invii.jsonl")
    return Path.cwd() / "piano.invii.jsonl"


def read_sent_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of the sent-log (a damaged line, e.g. from a crash mid-write, is skipped)."""
    p = Path(path)
    if not p.exists():
        return []
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:   # without the log, what was sent is unknown: send nothing
        raise PegxlError(finding(ErrorCode.F001, file=str(p), detail=f"registro invii: {os_detail(exc)}"),
                         exit_code=EXIT_UNUSABLE) from exc
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _append_log(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _key(sector: str, kind: str, sha: str) -> tuple[str, str, str]:
    return (sector, kind, sha)


def content_key(path: Path) -> str | None:
    """SHA-256 of what a template shows (every cell value of every sheet), without the
    «Generato il» stamp and the whole plan's «Impronta piano» of its hidden identity sheet:
    `pegxl templates` run again on the same plan, or on a plan changed only in other
    settori's part (a return of the old template stays usable: I010), writes new bytes but
    the same template for this settore, which must not be e-mailed to it a second time.
    None for a file that cannot be read."""
    try:
        book = read_values(path)
    except Exception:
        return None
    return _content_of(book)


def _content_of(book: Any) -> str:
    skip = {C.norm_header(label) for label, fld in C.IDENTITY_FIELDS if fld in ("generated_at", "fingerprint")}
    h = hashlib.sha256()
    for name, sheet in book.sheets.items():
        h.update(json.dumps(["sheet", name], ensure_ascii=False).encode("utf-8"))
        identity = C.norm_header(name) == C.norm_header(C.SHEET_IDENTITY)
        for row in sheet.rows:
            if identity and row and C.norm_header(row[0]) in skip:
                continue
            h.update(json.dumps(row, ensure_ascii=False, default=str).encode("utf-8"))
    return h.hexdigest()


# --------------------------------------------------------------------------- values

def _fmt_date(d: dt.date | None) -> str:
    return d.strftime("%d/%m/%Y") if d else "(data da definire)"


def _values(plan: Plan, sector: dict[str, Any], attachment: str, sender: str) -> dict[str, str]:
    return {
        "ente": plan.ente,
        "anno": str(plan.anno),
        "fase": plan.fase,
        "scadenza": _fmt_date(plan.deadline),
        "settore": str(sector["sector"]),
        "settore_nome": str(sector.get("sector_name") or sector["sector"]),
        "responsabile": str(sector.get("manager") or "Responsabile"),
        "ufficio": plan.office or "Ufficio controllo di gestione",
        "email_ufficio": plan.office_email or sender,
        "allegato": attachment,
    }


def _reminder_values(row: Any, attachment_is_annotated: bool) -> dict[str, str]:
    if row.state == STATE_MISSING:
        return {"stato": "non ancora consegnato", "errori": "0",
                "istruzioni": "Alleghiamo di nuovo il modello da compilare."}
    n = row.errors
    if attachment_is_annotated:
        how = ("Alleghiamo la copia del file con gli errori evidenziati: ogni cella da correggere è "
               "colorata e porta un commento, e il foglio «Errori» li elenca tutti. Correggere il "
               "file originale inviato (non la copia) e rimandarlo.")
    else:
        how = ("Correggere il file inviato e rimandarlo; alleghiamo di nuovo il modello per comodità. "
               "L'ufficio può indicare le celle da correggere.")
    return {"stato": f"consegnato con {n} {'errore' if n == 1 else 'errori'}", "errori": str(n),
            "istruzioni": how}


def valid_email(address: Any) -> TypeGuard[str]:
    return isinstance(address, str) and bool(_EMAIL.match(address.strip()))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1] if "@" in address else "pegxl.local"


def build_message(*, sender: str, to: str, subject: str, body: str, attachment: Path,
                  data: bytes, reply_to: str | None, kind: str, sector: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if reply_to and reply_to != sender:
        msg["Reply-To"] = reply_to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(idstring=f"pegxl.{kind}.{sector}", domain=_domain(sender))
    msg["X-Mailer"] = f"pegxl {__version__}"
    msg.set_content(body)
    msg.add_attachment(data, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=attachment.name)
    return msg


# ---------------------------------------------------------------------------- plan

@dataclass
class _Job:
    sector: dict[Any, Any]   # a row of the Settori table
    kind: str
    attachment: Path
    values: dict[str, str]
    content: str | None = None   # content_key of a template (sent-log)


def _annotated_copy(returned: str, dirs: list[Path]) -> Path | None:
    """The annotated copy of `returned` in the first of `dirs` that has one, by either name
    `pegxl validate --annotate` gives it (see annotate.annotated_names)."""
    p = Path(returned)
    names = [annotated_name(p), f"{p.stem}_{p.suffix.lstrip('.').lower() or 'file'}_errori.xlsx"]
    for d in dirs:
        for name in names:
            cand = d / name
            if cand.is_file():
                return cand
    return None


def attachment_identity(plan: Plan, path: Path, sector: str, *,
                        template: bool = True) -> tuple[str | None, str | None]:
    """(content_key, None) when the hidden identity sheet `_pegxl` of `path` names `sector`
    of this plan's ente and anno (and, for a template, fase); (None, why not, in Italian)
    otherwise: such a file is never attached."""
    try:
        book = read_values(path)
    except PegxlError as exc:
        return None, "file non leggibile (" + "; ".join(f.message for f in exc.findings) + ")"
    except Exception as exc:  # whatever a broken file raises, it is not attached
        return None, f"file non leggibile ({type(exc).__name__})"
    ident = read_identity(book)
    if ident is None:
        return None, f"manca il foglio nascosto «{C.SHEET_IDENTITY}»: non è un modello pegxl"
    found = "" if ident.get("sector") is None else str(ident.get("sector")).strip()
    if found != str(sector):
        return None, f"il foglio nascosto «{C.SHEET_IDENTITY}» indica il settore «{found}»"
    ente = "" if ident.get("ente") is None else str(ident.get("ente")).strip()
    if ente != plan.ente:
        return None, f"è dell'ente «{ente}», il piano di «{plan.ente}»"
    anno = parse_number(ident.get("anno")).value
    if anno is None or int(anno) != int(plan.anno):
        return None, f"è dell'anno {show_value(ident.get('anno'))}, il piano del {plan.anno}"
    fase = "" if ident.get("fase") is None else str(ident.get("fase")).strip()
    if template and fase != plan.fase:
        return None, f"è per la fase «{fase}», il piano è nella fase «{plan.fase}»"
    return _content_of(book), None


def send_templates(plan: Plan, templates_dir: str | os.PathLike, *, smtp: SmtpSettings | None = None,
                   dry_run_dir: str | os.PathLike | None = None,
                   body_template: str | os.PathLike | None = None,
                   reminders_dir: str | os.PathLike | None = None,
                   annotated_dir: str | os.PathLike | None = None,
                   sent_log: str | os.PathLike | None = None, force: bool = False,
                   sectors: Iterable[str] | None = None, sender: str | None = None,
                   progress: Callable[[Outcome], None] | None = None) -> SendReport:
    """E-mail every settore its template (or, with `reminders_dir`, remind the settori that
    are missing or returned a file with errors). See the module docstring."""
    if smtp is None and dry_run_dir is None:
        raise PegxlError(finding(ErrorCode.U001, detail="indicare il server di posta o --dry-run"),
                         exit_code=EXIT_UNUSABLE)
    kind = KIND_REMINDER if reminders_dir is not None else KIND_SEND
    tmpl = load_template(body_template, kind)
    templates_dir = Path(templates_dir)
    if not templates_dir.is_dir():
        raise PegxlError(finding(ErrorCode.F001, file=str(templates_dir), detail="cartella dei modelli inesistente"),
                         exit_code=EXIT_UNUSABLE)
    report = SendReport(dry_run=dry_run_dir is not None, kind=kind)
    sender = (sender or (smtp.sender if smtp is not None else None) or plan.office_email
              or (smtp.user if smtp is not None else None))
    if not valid_email(sender):
        if dry_run_dir is not None and not sender:
            sender = "ufficio@example.invalid"
        else:
            raise PegxlError(finding(ErrorCode.U001, detail=f"mittente «{sender or ''}» non valido: indicare --from, "
                                     f"{ENV_FROM} o l'Email ufficio nel foglio Ente"), exit_code=EXIT_UNUSABLE)
    reply_to = plan.office_email if valid_email(plan.office_email) else None

    wanted = set(sectors) if sectors is not None else None
    rows = [r for r in plan.sectors.to_dict("records") if wanted is None or r["sector"] in wanted]

    # who gets a message, with which attachment: only a file whose hidden identity is the
    # settore's own (a name is not enough: two codes can give one name, a file can be
    # copied over another)
    jobs: list[_Job] = []

    def refuse(s: dict[Any, Any], path: Path, why: str) -> None:
        report.findings.append(finding(ErrorCode.E006, file=str(path), record=s["sector"], value=path.name,
                                       detail=why))
        report.outcomes.append(Outcome(s["sector"], kind, ST_FAILED, to=s.get("email"),
                                       attachment=path.name, detail=f"allegato non del settore: {why}"))

    def missing(s: dict[Any, Any], path: Path) -> None:
        report.findings.append(finding(ErrorCode.E003, file=str(path), record=s["sector"],
                                       value=str(templates_dir)))
        report.outcomes.append(Outcome(s["sector"], kind, ST_FAILED, to=s.get("email"),
                                       detail="modello mancante"))

    if reminders_dir is None:   # KIND_SEND
        for s in rows:
            path = templates_dir / template_name(plan, s["sector"])
            if not path.is_file():
                missing(s, path)
                continue
            content, why = attachment_identity(plan, path, s["sector"], template=True)
            if why:
                refuse(s, path, why)
                continue
            jobs.append(_Job(s, kind, path, {}, content))
    else:
        st = status(plan, reminders_dir)
        ann_dirs = [Path(annotated_dir)] if annotated_dir is not None else []
        ann_dirs.append(Path(reminders_dir) / "annotati")
        for s in rows:
            row = st.row(s["sector"])
            if row.state not in (STATE_MISSING, STATE_ERRORS):
                why = ("più file per lo stesso settore: l'ufficio deve tenerne uno" if row.state == STATE_MULTIPLE
                       else "file consegnato e utilizzabile")
                report.outcomes.append(Outcome(s["sector"], kind, ST_SKIPPED, to=s.get("email"),
                                               detail=f"nessun sollecito: {why}"))
                continue
            path, annotated = None, False
            if row.state == STATE_ERRORS and row.file:
                path = _annotated_copy(row.file, ann_dirs)
                annotated = path is not None
            if path is None:
                path = templates_dir / template_name(plan, s["sector"])
                if not path.is_file():
                    missing(s, path)
                    continue
            # an annotated copy is a copy of the settore's return: same identity, any fase
            _, why = attachment_identity(plan, path, s["sector"], template=not annotated)
            if why:
                refuse(s, path, why)
                continue
            jobs.append(_Job(s, kind, path, _reminder_values(row, annotated)))

    # render everything first: a broken template sends nothing
    prepared = []
    for job in jobs:
        values = _values(plan, job.sector, job.attachment.name, sender)
        values.update(job.values)
        for k in ("stato", "errori", "istruzioni"):
            values.setdefault(k, "")
        subject, body = tmpl.render(values)
        prepared.append((job, subject, body))

    log_path = Path(sent_log) if sent_log is not None else default_log_path(plan)
    report.log_path = str(log_path)
    done = set()
    for r in read_sent_log(log_path):
        done.add(_key(r.get("settore", ""), r.get("kind", ""), r.get("sha256", "")))
        if r.get("content"):
            done.add(_key(r.get("settore", ""), r.get("kind", ""), "content:" + r["content"]))

    conn = _Connection(smtp) if smtp is not None and dry_run_dir is None else None
    eml_taken: set[str] = set()
    try:
        for job, subject, body in prepared:
            s = job.sector
            code = s["sector"]
            to = (s.get("email") or "").strip()
            data = job.attachment.read_bytes()
            sha = _sha256(data)
            # a template made again from the same plan has new bytes, not new content
            content = job.content
            out = Outcome(code, job.kind, ST_FAILED, to=to or None, subject=subject,
                          attachment=job.attachment.name, sha256=sha)
            report.outcomes.append(out)
            if not valid_email(to):
                report.findings.append(finding(ErrorCode.E001, record=code, value=to or "vuoto",
                                               sheet="Settori", column="Email"))
                out.detail = "indirizzo e-mail mancante o non valido"
                continue
            if not force and (_key(code, job.kind, sha) in done
                              or (content and _key(code, job.kind, "content:" + content) in done)):
                out.status = ST_ALREADY
                out.detail = "stesso allegato già inviato (vedi registro invii)"
                continue
            msg = build_message(sender=sender, to=to, subject=subject, body=body,
                                attachment=job.attachment, data=data, reply_to=reply_to,
                                kind=job.kind, sector=code)
            out.message_id = msg["Message-ID"]
            if dry_run_dir is not None:
                d = Path(dry_run_dir)
                target = d / _eml_name(plan, code, job.kind, eml_taken)
                atomic_write_bytes(target, bytes(msg))
                out.status, out.eml = ST_WRITTEN, str(target)
                if progress:
                    progress(out)
                continue
            if report.connection_failed:
                out.detail = "non tentato: connessione al server non riuscita"
                continue
            if report.log_failed:
                out.detail = "non tentato: il registro invii non si può scrivere"
                continue
            assert conn is not None and smtp is not None   # not a dry run
            try:
                conn.send(msg, sender, to)
            except DeadlineExceeded as exc:
                report.findings.append(finding(ErrorCode.E007, record=code, value=smtp.address,
                                               detail=show_value(float(exc.seconds))))
                report.connection_failed = True
                out.detail = _smtp_detail(exc, conn.secrets)
                continue
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                    smtplib.SMTPNotSupportedError) as exc:
                detail = _smtp_detail(exc, conn.secrets)
                report.findings.append(finding(ErrorCode.E002, record=code, value=to, detail=detail))
                out.detail = detail
                if progress:
                    progress(out)
                continue
            except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
                detail = _smtp_detail(exc, conn.secrets)
                report.findings.append(finding(ErrorCode.E004, value=smtp.address, detail=detail))
                report.connection_failed = True
                out.detail = "non tentato: connessione al server non riuscita"
                continue
            out.status = ST_SENT
            record = {"settore": code, "to": to, "subject": subject, "attachment": job.attachment.name,
                      "sha256": sha, "kind": job.kind, "content": content,
                      "timestamp": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                      "message_id": out.message_id, "ente": plan.ente, "anno": plan.anno,
                      "fase": plan.fase}
            try:
                _append_log(log_path, record)
            except OSError as exc:
                # sent but not recorded: a later run would send it again, so stop here
                report.findings.append(finding(
                    ErrorCode.F010, file=str(log_path),
                    detail=f"{os_detail(exc)}; il messaggio a {to} ({code}) è stato inviato ma non registrato, "
                           "gli altri non sono stati tentati"))
                report.log_failed = True
            done.add(_key(code, job.kind, sha))
            if content:
                done.add(_key(code, job.kind, "content:" + content))
            if progress:
                progress(out)
    finally:
        if conn is not None:
            conn.close()
    return report


def _eml_name(plan: Plan, code: str, kind: str, taken: set[str]) -> str:
    """`<Anno>_<Codice settore>_<tipo>.eml`, the code made fit for a file name as in the
    templates' names; never the name of another message of the same run (two codes that
    differ only in unfit characters or in case: `plan check` refuses them, P029)."""
    name = f"{plan.anno}_{safe_code(code)}_{kind}.eml"
    stem, n = name[:-4], 2
    while name.casefold() in taken:
        name, n = f"{stem}-{n}.eml", n + 1
    taken.add(name.casefold())
    return name
