"""Settings base for every service.

Each service defines one subclass of :class:`AzaionSettings` and builds it in
``main()`` with :func:`load_settings` (never at import time). Variables use the
``AZAION_`` prefix and ``__`` for nesting, e.g. ``AZAION_RABBIT__HOST``.

Every service reads ``.env`` from the working directory too, as docker compose does (a variable set
in the environment wins over the file); ``AZAION_ENV_FILE`` names another file, or none when empty
(the test suite sets it empty, so that a deployment's ``.env`` beside the code never leaks into a
test); :func:`dotenv_file` says which file was read.

Secrets are :class:`~pydantic.SecretStr`. Outside ``AZAION_ENV=development`` a
secret left at a placeholder value (``changethis``, ``guest``, ...) is refused,
so a forgotten ``.env`` fails at start instead of running with a known password.
"""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from azaion_shared.errors import ConfigError

ENV_PREFIX = "AZAION_"
NESTED_DELIMITER = "__"
ENV_FILE = ".env"
ENV_FILE_VARIABLE = "AZAION_ENV_FILE"
DEFAULT_ROOT = Path("/azaion")

#: Values that mean "nobody set this secret". Compared case-insensitively.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changethis", "changeme", "change-me", "change_me", "secret", "password", "guest", "admin", "xxx", "todo"}
)

Environment = Literal["development", "test", "production"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: Sections of the settings the command being started does not use (load_settings' ``unused``): their
#: secrets are not held to the placeholder rule, since nothing will use them.
_UNUSED: ContextVar[frozenset[str]] = ContextVar("azaion_unused_settings", default=frozenset())


def _json(text: str, kind: str, plain: str) -> Any:
    """JSON, or a ValueError that says what was wrong and the plain way to write it (the field's error)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{text[:60]!r} is not a JSON {kind} ({exc}); or write it plainly: {plain}") from None


def _json_or_commas(value: Any) -> Any:
    """A list from the environment as people write it: JSON (`["a", "b"]`) or comma-separated (`a,b`)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return _json(text, "list", "a,b")
    return [item.strip() for item in text.split(",") if item.strip()]


def _json_or_pairs(value: Any) -> Any:
    """A map of words from the environment: JSON (`{"a": "x"}`) or `a=x,b=y`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("{"):
        return _json(text, "map", "a=x,b=y")
    pairs = [item.strip() for item in text.split(",") if item.strip()]
    if not all("=" in pair for pair in pairs):
        raise ValueError(f"{text[:60]!r} is neither JSON nor NAME=VALUE pairs separated by commas")
    return {name.strip(): found.strip() for name, found in (pair.split("=", 1) for pair in pairs)}


#: A list of words or paths (no commas inside an item), written as JSON or comma-separated.
WordList = Annotated[list[str], NoDecode, BeforeValidator(_json_or_commas)]
PathList = Annotated[list[Path], NoDecode, BeforeValidator(_json_or_commas)]
#: A map of names to words or URLs, written as JSON or as NAME=VALUE pairs separated by commas.
WordMap = Annotated[dict[str, str], NoDecode, BeforeValidator(_json_or_pairs)]


def is_placeholder(value: str) -> bool:
    """True when ``value`` is an empty or well-known placeholder secret."""
    return value.strip().lower() in PLACEHOLDER_SECRETS


class RabbitSettings(BaseModel):
    """Where the broker is: the stream protocol for annotations, AMQP for work queues."""

    host: str = "localhost"
    port: int = Field(5672, ge=1, le=65535, description="AMQP 0-9-1 port (work queues).")
    stream_port: int = Field(5552, ge=1, le=65535, description="Stream protocol port (annotation stream).")
    user: str = "guest"
    password: SecretStr = SecretStr("guest")
    vhost: str = "/"
    stream: str = Field("azaion-annotations", description="Name of the annotation stream.")
    frame_max: int = Field(
        8 * 1024 * 1024,
        description="Largest stream frame in bytes; the broker's stream.frame_max must be at least this.",
    )
    load_balancer: bool = Field(
        False,
        description="Open every stream connection through host:stream_port (a load balancer or proxy in front of "
        "the brokers) instead of the address each broker advertises.",
    )

    def stream_connection(self) -> dict:
        """The keyword arguments of an rstream Producer or Consumer for this broker."""
        return {
            "host": self.host,
            "port": self.stream_port,
            "username": self.user,
            "password": self.password.get_secret_value(),
            "vhost": self.vhost,
            "frame_max": self.frame_max,
        }

    def amqp_url(self) -> str:
        from urllib.parse import quote

        vhost = quote(self.vhost, safe="")
        return (
            f"amqp://{quote(self.user, safe='')}:{quote(self.password.get_secret_value(), safe='')}"
            f"@{self.host}:{self.port}/{vhost}"
        )


class AzaionSettings(BaseSettings):
    """Fields every service has; subclass it and add your own."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        extra="ignore",
        validate_default=True,
        # An empty variable means "not set" (the default): .env.example leaves optional ones empty.
        env_ignore_empty=True,
        protected_namespaces=(),  # model_key is ours, not pydantic's "model_" namespace
        env_file_encoding="utf-8",  # the file itself is chosen by load_settings (dotenv_file)
    )

    env: Environment = Field("production", description="development relaxes the placeholder-secret check.")
    root: Path = Field(
        DEFAULT_ROOT,
        description="The data root, the folder the services share (compose mounts it at /azaion). A service that "
        "owns it creates it when it is missing; a hand-run command refuses a missing default one.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR (any case).")
    log_json: bool = Field(False, description="One JSON object per log line instead of readable text.")
    temp_max_age_minutes: float = Field(
        60.0,
        gt=0,
        description="A temporary file whose writer cannot be checked (another host or container) is removed "
        "once untouched for this long; files of writers on this machine are removed as soon as the writer is gone.",
    )

    @property
    def temp_max_age(self) -> float:
        """``temp_max_age_minutes`` in seconds."""
        return self.temp_max_age_minutes * 60

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: one of {', '.join(LOG_LEVELS)}")
        return level

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> AzaionSettings:
        if self.env == "development":
            return self
        unused = tuple(f"{ENV_PREFIX}{name.upper()}" for name in _UNUSED.get())
        bad = [
            name
            for name, value in _secret_fields(self, ENV_PREFIX)
            if is_placeholder(value) and not name.startswith(unused)
        ]
        if bad:
            raise ValueError(
                f"placeholder secret in {', '.join(bad)} with AZAION_ENV={self.env}: "
                "set a real value (or AZAION_ENV=development on a development machine)"
            )
        return self


def _secret_fields(model: BaseModel, prefix: str):
    """Yield (environment variable name, secret value) for every SecretStr, nested included."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        env_name = f"{prefix}{name.upper()}"
        if isinstance(value, SecretStr):
            yield env_name, value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secret_fields(value, env_name + NESTED_DELIMITER)


class ModelKeyFields(BaseModel):
    """The model key, for the services that encrypt or decrypt models (trainer, inference): mix it into
    their settings. Malformed or placeholder keys are refused when the settings are built."""

    model_config = ConfigDict(protected_namespaces=())

    model_key: SecretStr | None = Field(
        None, description="The model key: base64 of 32 bytes (`python -m azaion_shared keygen`)."
    )
    model_key_file: Path | None = Field(
        None, description="A file holding the model key, instead of AZAION_MODEL_KEY (Docker secrets)."
    )

    @field_validator("model_key")
    @classmethod
    def _well_formed(cls, value: SecretStr | None) -> SecretStr | None:
        from azaion_shared.crypto import parse_key

        if value is not None and not is_placeholder(value.get_secret_value()):
            try:
                parse_key(value.get_secret_value(), origin="the key")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    def key_configured(self) -> bool:
        return self.model_key is not None or self.model_key_file is not None

    def key(self) -> bytes:
        """The key's 32 bytes; a ConfigError naming the variable when it is missing or unreadable."""
        from azaion_shared.crypto import KEY_ENV, KEY_FILE_ENV, load_key

        environ = {}
        if self.model_key is not None:
            environ[KEY_ENV] = self.model_key.get_secret_value()
        if self.model_key_file is not None:
            environ[KEY_FILE_ENV] = str(self.model_key_file)
        return load_key(environ)


S = TypeVar("S", bound=BaseSettings)


def dotenv_file() -> Path | None:
    """The ``.env`` file settings are read from: the working directory's (or AZAION_ENV_FILE's), if any."""
    name = os.environ.get(ENV_FILE_VARIABLE, ENV_FILE)
    path = Path(name) if name else None
    return path.resolve() if path is not None and path.is_file() else None


def _environment() -> dict[str, str]:
    """The variables the settings see: ``.env``'s, overridden by the environment's."""
    found = dotenv_file()
    if found is None:
        return dict(os.environ)
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(found).items() if v is not None} | dict(os.environ)


def ensure_root(settings: AzaionSettings, owner: bool) -> None:
    """The data root exists, or is created with one INFO line, or is refused (a ConfigError).

    ``owner``: the service that owns the data root (it creates it when missing). A hand-run command
    creates one that AZAION_ROOT names (saying so), and refuses the default ``/azaion`` when it is
    missing, so that nobody finds a folder made at the top of their disk by a command they tried."""
    import logging

    root = settings.root
    if root.is_dir():
        return
    if root.exists():
        raise ConfigError(f"AZAION_ROOT={root} is not a folder: name the folder the services share")
    named = "AZAION_ROOT" in _environment()
    if not owner and not named:
        raise ConfigError(
            f"no data root: AZAION_ROOT is not set and {root} does not exist. Set AZAION_ROOT to the folder the "
            "services share (in the environment or in ./.env; compose mounts it at /azaion), or create that folder"
        )
    try:
        root.mkdir(parents=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the data root {root} (AZAION_ROOT): {exc.strerror or exc}") from None
    logging.getLogger("azaion_shared.settings").info("created the data root %s (AZAION_ROOT)", root)


def load_settings(cls: type[S], unused: tuple[str, ...] = (), **overrides) -> S:
    """Build ``cls`` from the environment, turning validation errors into one readable ConfigError.
    ``unused``: sections the command will not touch (``"api_client"``): a placeholder secret there is no
    reason to refuse it (a trainer that only forms a dataset needs no api password)."""
    token = _UNUSED.set(frozenset(unused))
    try:
        return cls(_env_file=dotenv_file(), **overrides)
    except SettingsError as exc:  # a list or map variable that is not JSON: pydantic-settings names no variable
        raise ConfigError(_unparsable(cls, _environment()) or f"invalid configuration: {exc}") from None
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        found = []
        for err in exc.errors():
            loc = NESTED_DELIMITER.join(str(p).upper() for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            message += _given(loc, err.get("input"), message)
            found.append(f"{prefix}{loc}: {message}" if loc else message)
        raise ConfigError("invalid configuration: " + "; ".join(found)) from exc
    finally:
        _UNUSED.reset(token)


def _given(variable: str, value: object, message: str) -> str:
    """`` (got 'huge')`` after a validation message, so that it says what was given as well as what is
    expected; never for a secret, nor when the message already shows it."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        return ""
    if any(word in variable for word in ("SECRET", "PASSWORD", "KEY", "TOKEN")) or str(value) in message:
        return ""
    return f" (got {str(value)[:60]!r})"


def _structured(annotation) -> str | None:
    """``list`` or ``map`` when a field's value is JSON in the environment, else None."""
    import typing

    origin = typing.get_origin(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        kinds = [k for k in (_structured(a) for a in typing.get_args(annotation)) if k]
        return kinds[0] if kinds else None
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set):
        return "list"
    if origin is dict or annotation is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "map"
    return None


def _unparsable(cls: type[BaseModel], environ, prefix: str = ENV_PREFIX) -> str | None:
    """The first variable of ``cls`` whose list or map value is not JSON, said with the way to write it."""
    import json

    for name, field in cls.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found = _unparsable(annotation, environ, variable + NESTED_DELIMITER)
            if found:
                return found
        kind = _structured(annotation)
        value = environ.get(variable)
        if kind is None or value is None or not value.strip():
            continue
        try:
            json.loads(value)
        except ValueError:
            items = [item.strip() for item in value.split(",") if item.strip()]
            example = json.dumps(items) if kind == "list" else '{"name": "value"}'
            return (
                f"{variable}={value[:60]!r} is not JSON: a {kind} is written in JSON, e.g. {variable}='{example}' "
                "(the quotes matter in a shell; in .env write it as is)"
            )
    return None
