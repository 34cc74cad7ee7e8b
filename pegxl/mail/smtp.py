"""Talking to the mail server: the settings (options, environment), the connection with its
deadline, TLS and login, and the Italian details of what went wrong (secrets scrubbed)."""
from __future__ import annotations

import base64
import os
import ipaddress
import re
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Callable, Iterable, Mapping

from ..errors import EXIT_UNUSABLE, ErrorCode, PegxlError, finding, os_detail, show_value

ENV_HOST = "PEGXL_SMTP_HOST"
ENV_PORT = "PEGXL_SMTP_PORT"
ENV_SECURITY = "PEGXL_SMTP_SECURITY"
ENV_USER = "PEGXL_SMTP_USER"
ENV_FROM = "PEGXL_SMTP_FROM"
ENV_PASSWORD = "PEGXL_SMTP_PASSWORD"
ENV_DEADLINE = "PEGXL_SMTP_TIMEOUT"

DEFAULT_DEADLINE = 60.0   # seconds for one message: connect, greeting, TLS, login, sending

SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

# ------------------------------------------------------------------------- settings

@dataclass
class SmtpSettings:
    """Where and how to send. `password` never appears in repr() or in any output."""

    host: str
    port: int | None = None
    security: str = "starttls"
    user: str | None = None
    sender: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0          # one read or write on the socket
    deadline: float = DEFAULT_DEADLINE   # the whole of one message (see _Connection)

    def __post_init__(self) -> None:
        if not (isinstance(self.deadline, (int, float)) and 0 < self.deadline < float("inf")):
            raise PegxlError(finding(ErrorCode.U001, detail=f"tempo massimo per messaggio «{self.deadline}» "
                                     "non valido: indicare i secondi, un numero maggiore di 0"),
                             exit_code=EXIT_UNUSABLE)
        self.security = (self.security or "starttls").lower()
        if self.security not in SECURITIES:
            raise PegxlError(finding(ErrorCode.U001, detail=f"sicurezza SMTP «{self.security}» non valida "
                                     f"(ammesse: {', '.join(SECURITIES)})"), exit_code=EXIT_UNUSABLE)
        if self.port is None:
            self.port = DEFAULT_PORTS[self.security]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, *, host: str | None = None, port: int | str | None = None,
                 security: str | None = None, user: str | None = None, sender: str | None = None,
                 deadline: float | str | None = None,
                 prompt: Callable[[str], str] | None = None,
                 env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Options first, then PEGXL_SMTP_* variables (PEGXL_SMTP_TIMEOUT: seconds allowed
        for one message). The password only from PEGXL_SMTP_PASSWORD or, when a user is
        set and it is absent, from `prompt`."""
        env = os.environ if env is None else env
        host = host or env.get(ENV_HOST)
        if not host:
            raise PegxlError(finding(ErrorCode.U001, detail=f"manca il server di posta: indicare --smtp-host "
                                     f"o la variabile {ENV_HOST} (oppure usare --dry-run)"),
                             exit_code=EXIT_UNUSABLE)
        raw_port = port if port is not None else env.get(ENV_PORT)
        try:
            port_n = int(raw_port) if raw_port not in (None, "") else None
        except ValueError:
            raise PegxlError(finding(ErrorCode.U001, detail=f"porta SMTP «{raw_port}» non valida"),
                             exit_code=EXIT_UNUSABLE) from None
        raw_deadline = deadline if deadline is not None else env.get(ENV_DEADLINE)
        try:
            deadline_s = (float(str(raw_deadline).strip().replace(",", "."))
                          if raw_deadline not in (None, "") else DEFAULT_DEADLINE)
        except ValueError:
            raise PegxlError(finding(ErrorCode.U001, detail=f"tempo massimo per messaggio «{raw_deadline}» "
                                     f"non valido ({ENV_DEADLINE} o --smtp-timeout: i secondi, es. 60)"),
                             exit_code=EXIT_UNUSABLE) from None
        user = user or env.get(ENV_USER) or None
        password = env.get(ENV_PASSWORD) or None
        if user and password is None and prompt is not None:
            password = prompt(f"Password SMTP per {user}") or None
        return cls(host=host, port=port_n, security=security or env.get(ENV_SECURITY) or "starttls",
                   user=user, sender=sender or env.get(ENV_FROM) or None, password=password,
                   deadline=deadline_s)



# -------------------------------------------------------------------------- sending

class DeadlineExceeded(smtplib.SMTPException):
    """The server did not complete one message (connect, greeting, TLS, login, sending)
    within the time allowed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"tempo massimo di {show_value(float(seconds))} secondi superato")


class _Session:
    """What pegxl adds to smtplib's SMTP and SMTP_SSL: the connected socket is handed to the
    watchdog before anything is read from it (greeting, TLS handshake), and every AUTH
    payload sent is remembered, so that a reply that echoes it can be redacted."""

    _pegxl: _Connection

    def auth(self, mechanism, authobject, *, initial_response_ok=True):
        conn = self._pegxl

        def remembered(challenge=None):
            response = authobject(challenge)
            if response is not None:
                conn.remember(response)
            return response
        return super().auth(mechanism, remembered, initial_response_ok=initial_response_ok)


class _SMTP(_Session, smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        self._pegxl.hold(sock)
        return sock


class _SMTP_SSL(_Session, smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        # smtplib's own, split so that the watchdog holds the socket during the handshake
        sock = socket.create_connection((host, port), timeout, self.source_address)
        self._pegxl.hold(sock)
        return self.context.wrap_socket(sock, server_hostname=self._host)


class _Connection:
    """One SMTP session for the whole run, opened lazily, reopened once if dropped.

    Each message has a total deadline (`SmtpSettings.deadline`): connect, greeting, TLS,
    login and sending together. A socket timeout alone bounds only each read, and a server
    that trickles one byte at a time would never be given up; so a watchdog timer shuts
    the socket down when the time is up (through a duplicate of its descriptor, which
    survives the TLS wrapping), every blocked read or write then fails, and the message is
    reported as DeadlineExceeded."""

    def __init__(self, settings: SmtpSettings):
        self.s = settings
        self.smtp: smtplib.SMTP | None = None
        self.secrets: set[str] = set()
        if settings.password:
            self.remember(settings.password, encoded=False)
        self._wire: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._end = 0.0
        self.expired = False

    # ------------------------------------------------------------- secrets
    def remember(self, text: str, encoded: bool = True) -> None:
        """The base64 form in which smtplib sends `text` (an AUTH response), or `text`
        itself (the password), must never be shown."""
        if not text:
            return
        if not encoded:
            self.secrets.add(text)
        else:
            try:
                b64 = base64.b64encode(text.encode("utf-8")).decode("ascii")
            except Exception:
                return
            self.secrets.update({b64, b64.rstrip("=")})

    # ------------------------------------------------------------ watchdog
    def hold(self, sock: socket.socket) -> None:
        with self._lock:
            self._release_wire()
            try:
                self._wire = sock.dup()
            except OSError:
                self._wire = None
            if self.expired:
                self._shutdown()

    def _release_wire(self) -> None:
        if self._wire is not None:
            try:
                self._wire.close()
            except OSError:
                pass
            self._wire = None

    def _shutdown(self) -> None:
        if self._wire is not None:
            try:
                self._wire.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _arm(self) -> None:
        self.expired = False
        self._end = time.monotonic() + self.s.deadline
        self._timer = threading.Timer(self.s.deadline, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _remaining(self) -> float:
        return max(0.001, self._end - time.monotonic())

    # ---------------------------------------------------------- the session
    def open(self) -> None:
        s = self.s
        if s.user and not s.password:
            raise smtplib.SMTPException(f"manca la password per l'utente {s.user}: impostare {ENV_PASSWORD} "
                                        "o lanciare il comando da un terminale")
        if s.security == "none" and s.password and not _loopback(s.host):
            raise smtplib.SMTPException("password non inviata in chiaro: usare --security starttls o ssl")
        ctx = ssl.create_default_context()
        timeout = min(s.timeout, self._remaining())
        if s.security == "ssl":
            smtp: _SMTP | _SMTP_SSL = _SMTP_SSL(timeout=timeout, context=ctx)
        else:
            smtp = _SMTP(timeout=timeout)
        smtp._pegxl = self
        try:
            code, msg = smtp.connect(s.host, s.port or 0)   # 0: the default port, as None
            if code != 220:
                raise smtplib.SMTPConnectError(code, msg)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ctx)
                smtp.ehlo()
            if s.user and s.password:
                smtp.login(s.user, s.password)
        except BaseException:
            try:
                smtp.close()
            except Exception:
                pass
            raise
        self.smtp = smtp

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            except Exception:
                pass
            self.smtp = None
        with self._lock:
            self._release_wire()

    def send(self, msg: EmailMessage, sender: str, to: str) -> None:
        self._arm()
        try:
            if self.smtp is None:
                self.open()
            assert self.smtp is not None   # set by open()
            try:
                self.smtp.send_message(msg, from_addr=sender, to_addrs=[to])
            except smtplib.SMTPServerDisconnected:
                if self.expired:
                    raise
                self._drop()
                self.open()
                assert self.smtp is not None
                self.smtp.send_message(msg, from_addr=sender, to_addrs=[to])
        except Exception as exc:
            self._disarm()
            if self.expired:
                self._drop()
                raise DeadlineExceeded(self.s.deadline) from exc
            raise
        self._disarm()
        if self.expired:
            # smtplib takes a reply cut short by the shutdown ("250 acce", then end of
            # stream) for a whole one: the server never finished, the message is not sent
            self._drop()
            raise DeadlineExceeded(self.s.deadline)

    def close(self) -> None:
        if self.smtp is not None:
            self._arm()   # QUIT too: a trickling server must not hold the run at the end
            try:
                self.smtp.quit()
            except Exception:
                pass
            finally:
                self._disarm()
        self._drop()


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# "AUTH PLAIN dXNlcgBw..." echoed back: the payload after the mechanism is hidden even when
# it is not one pegxl sent (another client's, or one cut differently)
_AUTH_ECHO = re.compile(r"(?i)\b(AUTH\s+[A-Z0-9_-]+)(\s+)([A-Za-z0-9+/=]{4,})")
_B64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])")


def _scrub(text: str, secrets: str | Iterable[str] | None) -> str:
    """`text` (a server's reply, an error) without the password and without any AUTH payload
    (the base64 credentials) that the server may have echoed back."""
    if isinstance(secrets, str):
        secrets = [secrets]
    for secret in sorted({x for x in (secrets or ()) if x}, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _AUTH_ECHO.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    known = [x for x in (secrets or ()) if x]

    def hidden(m: re.Match) -> str:
        # a base64 word that decodes to credentials (PLAIN's NUL-separated form, or a
        # secret) is hidden wherever it appears in the reply
        token = m.group(0)
        try:
            raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            plain = raw.decode("utf-8")   # an ordinary word of the reply decodes to garbage
        except (ValueError, TypeError):
            return token
        if b"\x00" in raw or any(k in plain for k in known):
            return "***"
        return token
    return _B64_TOKEN.sub(hidden, text)


def _smtp_detail(exc: BaseException, secrets: str | Iterable[str] | None) -> str:
    if isinstance(exc, DeadlineExceeded):
        detail = str(exc)
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        parts = []
        for code, resp in exc.recipients.values():
            r = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
            parts.append(f"destinatario rifiutato dal server ({code} {r})")
        detail = "; ".join(parts) or "destinatario rifiutato"
    elif isinstance(exc, smtplib.SMTPResponseException):
        r = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        detail = f"il server ha risposto {exc.smtp_code} {r}"
    elif isinstance(exc, socket.timeout):
        detail = "tempo scaduto"
    elif isinstance(exc, OSError):
        detail = os_detail(exc)
    else:
        detail = str(exc) or type(exc).__name__
    return _scrub(detail, secrets)
