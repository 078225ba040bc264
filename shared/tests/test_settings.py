from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr

from azaion_shared.errors import ConfigError
from azaion_shared.settings import (
    AzaionSettings,
    PathList,
    RabbitSettings,
    WordList,
    WordMap,
    is_placeholder,
    load_settings,
)


class ServiceSettings(AzaionSettings):
    api_secret: SecretStr = SecretStr("changethis")
    rabbit: RabbitSettings = RabbitSettings()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("AZAION_") and key != "AZAION_ENV_FILE":  # no .env read in tests (conftest.py)
            monkeypatch.delenv(key)


def test_prefix_and_nesting(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "development")
    monkeypatch.setenv("AZAION_ROOT", "/tmp/x")
    monkeypatch.setenv("AZAION_RABBIT__HOST", "broker")
    monkeypatch.setenv("AZAION_RABBIT__STREAM_PORT", "6000")
    settings = load_settings(ServiceSettings)
    assert settings.root == Path("/tmp/x")
    assert settings.rabbit.host == "broker"
    assert settings.rabbit.stream_port == 6000


def test_placeholder_secret_refused_outside_development(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "production")
    monkeypatch.setenv("AZAION_RABBIT__PASSWORD", "s3cret-enough-rabbit")
    with pytest.raises(ConfigError) as info:
        load_settings(ServiceSettings)
    assert "AZAION_API_SECRET" in str(info.value)
    assert "changethis" not in str(info.value)  # never echo a secret


def test_nested_placeholder_is_named(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "production")
    monkeypatch.setenv("AZAION_API_SECRET", "a-real-secret-value")
    with pytest.raises(ConfigError, match="AZAION_RABBIT__PASSWORD"):
        load_settings(ServiceSettings)


def test_real_secrets_accepted_and_hidden(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "production")
    monkeypatch.setenv("AZAION_API_SECRET", "a-real-secret-value")
    monkeypatch.setenv("AZAION_RABBIT__PASSWORD", "another-real-one")
    settings = load_settings(ServiceSettings)
    assert settings.api_secret.get_secret_value() == "a-real-secret-value"
    assert "a-real-secret-value" not in repr(settings)


def test_development_allows_placeholders(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "development")
    assert load_settings(ServiceSettings).rabbit.password.get_secret_value() == "guest"


def test_malformed_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "development")
    monkeypatch.setenv("AZAION_RABBIT__PORT", "not-a-port")
    with pytest.raises(ConfigError, match="AZAION_RABBIT__PORT"):
        load_settings(ServiceSettings)


def test_unknown_environment_refused(monkeypatch):
    monkeypatch.setenv("AZAION_ENV", "staging-ish")
    with pytest.raises(ConfigError, match="AZAION_ENV"):
        load_settings(ServiceSettings)


def test_is_placeholder():
    assert is_placeholder(" ChangeThis ")
    assert is_placeholder("")
    assert not is_placeholder("x9!kq")


def test_amqp_url_quotes_credentials():
    rabbit = RabbitSettings(user="u@x", password=SecretStr("p/w:d"), vhost="/")
    assert rabbit.amqp_url() == "amqp://u%40x:p%2Fw%3Ad@localhost:5672/%2F"


def test_empty_variables_mean_the_default(monkeypatch):
    # .env.example leaves optional settings empty; compose passes them on as empty strings
    monkeypatch.setenv("AZAION_ENV", "development")
    monkeypatch.setenv("AZAION_ROOT", "")
    monkeypatch.setenv("AZAION_RABBIT__STREAM_PORT", "")
    settings = load_settings(ServiceSettings)
    assert settings.root == Path("/azaion") and settings.rabbit.stream_port == 5552


def test_model_key_is_a_setting_checked_when_settings_are_built(tmp_path, monkeypatch):
    from azaion_shared.crypto import generate_key
    from azaion_shared.errors import ConfigError
    from azaion_shared.settings import AzaionSettings, ModelKeyFields, load_settings

    class WithKey(AzaionSettings, ModelKeyFields):
        pass

    monkeypatch.setenv("AZAION_ENV", "development")
    monkeypatch.setenv("AZAION_MODEL_KEY", "bm90LWEta2V5")  # base64, but of 9 bytes
    with pytest.raises(ConfigError, match=r"AZAION_MODEL_KEY: .*32 bytes"):
        load_settings(WithKey)
    monkeypatch.setenv("AZAION_MODEL_KEY", "not base64 at all!")
    with pytest.raises(ConfigError, match=r"AZAION_MODEL_KEY: .*not valid base64"):
        load_settings(WithKey)
    monkeypatch.delenv("AZAION_MODEL_KEY")
    settings = load_settings(WithKey)
    assert not settings.key_configured()
    with pytest.raises(ConfigError, match=r"AZAION_MODEL_KEY.*AZAION_MODEL_KEY_FILE"):
        settings.key()
    key_file = tmp_path / "model.key"
    key = generate_key()
    key_file.write_text(key + "\n")
    monkeypatch.setenv("AZAION_MODEL_KEY_FILE", str(key_file))
    import base64

    assert load_settings(WithKey).key() == base64.b64decode(key)
    monkeypatch.setenv("AZAION_ENV", "production")
    monkeypatch.setenv("AZAION_MODEL_KEY", "changethis")
    with pytest.raises(ConfigError, match="placeholder secret in AZAION_MODEL_KEY"):
        load_settings(WithKey)


class ListedSettings(AzaionSettings):
    class Nested(BaseModel):
        formats: WordList = Field(default_factory=lambda: ["onnx"])
        metrics: WordMap = Field(default_factory=dict)

    proxies: WordList = Field(default_factory=list)
    keys: PathList = Field(default_factory=list)
    nested: Nested = Nested()


@pytest.mark.parametrize(
    ("variable", "written", "read"),
    [
        ("AZAION_PROXIES", "10.0.0.1", ["10.0.0.1"]),
        ("AZAION_PROXIES", " 10.0.0.1 , 10.0.0.2,", ["10.0.0.1", "10.0.0.2"]),
        ("AZAION_PROXIES", '["10.0.0.1", "10.0.0.2"]', ["10.0.0.1", "10.0.0.2"]),
        ("AZAION_KEYS", "/keys/a.pub,/keys/b.pub", [Path("/keys/a.pub"), Path("/keys/b.pub")]),
        ("AZAION_NESTED__FORMATS", "onnx,rknn", ["onnx", "rknn"]),
        ("AZAION_NESTED__METRICS", "ingestor=http://i:8081/metrics", {"ingestor": "http://i:8081/metrics"}),
        ("AZAION_NESTED__METRICS", '{"a": "http://x/m?a=1"}', {"a": "http://x/m?a=1"}),
    ],
)
def test_lists_and_maps_read_as_json_or_as_people_write_them(monkeypatch, tmp_path, variable, written, read):
    for source in ("environment", ".env"):
        monkeypatch.delenv(variable, raising=False)
        if source == "environment":
            monkeypatch.setenv(variable, written)
        else:
            (tmp_path / ".env").write_text(f"{variable}='{written}'\n")
            monkeypatch.setenv("AZAION_ENV_FILE", str(tmp_path / ".env"))
        settings = load_settings(ListedSettings)
        value = {
            "AZAION_PROXIES": settings.proxies,
            "AZAION_KEYS": settings.keys,
            "AZAION_NESTED__FORMATS": settings.nested.formats,
            "AZAION_NESTED__METRICS": settings.nested.metrics,
        }[variable]
        assert value == read, source


@pytest.mark.parametrize(
    ("variable", "written", "says"),
    [
        ("AZAION_PROXIES", '["10.0.0.1"', "is not a JSON list"),
        ("AZAION_NESTED__METRICS", "http://i:8081/metrics", "neither JSON nor NAME=VALUE pairs"),
        ("AZAION_NESTED__METRICS", '{"a": ', "is not a JSON map"),
    ],
)
def test_a_list_or_map_that_is_neither_names_the_variable(monkeypatch, variable, written, says):
    monkeypatch.setenv(variable, written)
    with pytest.raises(ConfigError, match=f"{variable}: .*{says}"):
        load_settings(ListedSettings)
