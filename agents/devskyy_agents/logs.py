"""Logging for every component: the seed's line format, JSON on demand, task context, redaction.

Secrets reach processes through the environment, so the values of secret-looking
variables are scrubbed from every line, along with bearer tokens and
Authorization headers that a library might echo in an error message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from devskyy_agents import task_env
from devskyy_agents.clock import epoch_iso

TEXT_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MASK = "***"

KNOWN_SECRET_VARS = frozenset(
    {
        "TRIPO_API_KEY",
        "OPENAI_API_KEY",
        "FASHN_API_KEY",
        "WOOCOMMERCE_KEY",
        "WOOCOMMERCE_SECRET",
        "WORDPRESS_APP_PASSWORD",
        "SMTP_PASSWORD",
    }
)
SECRET_SUFFIXES = ("_KEY", "_SECRET", "_PASSWORD", "_TOKEN")
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words and digits

# The password of a connection URL (REDIS_URL, DATABASE_URL): scheme://user:***@host
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(@)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_AUTH_HEADER = re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)['\"]?[^'\"\n,}]+")
# Provider keys by their shape: OpenAI's (and compatible) "sk-...", Anthropic's "sk-ant-...".
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
# A key in a URL's query: ?api_key=..., &key=..., &access_token=... (Gemini's ?key=).
_URL_QUERY_KEY = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|access[_-]?token|token|secret|password|sig|signature)=)[^&\s#\"']+"
)

_task_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "devskyy_task_context", default=None
)


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """Values of the environment variables that hold secrets, longest first."""
    values = {
        value
        for name, value in environ.items()
        if (name in KNOWN_SECRET_VARS or name.upper().endswith(SECRET_SUFFIXES))
        and len(value) >= MIN_SECRET_LENGTH
    }
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """Mask secret values, bearer/basic credentials, Authorization header values,
    key-shaped tokens (`sk-...`) and keys in URL queries."""
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(2), text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    text = _KEY_SHAPED.sub(MASK, text)
    text = _URL_QUERY_KEY.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + " " + MASK, text)


class RedactionFilter(logging.Filter):
    """Rewrites each record's message and traceback with secrets masked."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._environ = os.environ if environ is None else environ
        self._secrets = secret_values(self._environ)

    def refresh(self) -> None:
        """Re-read the environment (a test or a component that loads secrets late)."""
        self._secrets = secret_values(self._environ)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        record.exc_info = None
        context = _task_context.get()
        if context:
            for key, value in context.items():
                setattr(record, key, value)
        return True


def _context_suffix() -> str:
    context = _task_context.get()
    if not context:
        return ""
    return " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"


class TextFormatter(logging.Formatter):
    """The seed's line format with the task context appended."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, DATE_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record) + _context_suffix()


class JsonFormatter(logging.Formatter):
    """One JSON object per line, task context as fields."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self._component = component

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": epoch_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "component": self._component,
            "message": record.getMessage(),
        }
        line.update(_task_context.get() or {})
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(component: str, *, environ: Mapping[str, str] | None = None) -> None:
    """Install one stderr handler on the root logger; LOG_FORMAT=json picks JSON lines."""
    env = os.environ if environ is None else environ
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactionFilter(env))
    if env.get(task_env.LOG_FORMAT, task_env.DEFAULT_LOG_FORMAT).lower() == "json":
        handler.setFormatter(JsonFormatter(component))
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(env.get("LOG_LEVEL", "INFO").upper())
    for noisy in ("httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def task_context(task_id: str, task_type: str, user_id: str) -> Iterator[None]:
    """Attach the task's identity to every log line written inside the block."""
    token = _task_context.set({"task_id": task_id, "type": task_type, "user_id": user_id})
    try:
        yield
    finally:
        _task_context.reset(token)


def log_environ(settings: object) -> dict[str, str]:
    """The environment for `configure_logging` of a control component: LOG_FORMAT
    from the environment wins, else the component's `log_format` setting
    (DEVSKYY_LOG_FORMAT, which the Helm chart sets)."""
    configured = getattr(settings, "log_format", None)
    defaults = {task_env.LOG_FORMAT: str(configured)} if configured else {}
    return {**defaults, **os.environ}
