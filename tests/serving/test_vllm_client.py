"""The vLLM client's configuration: which server serves a base model, where vLLM sees an adapter, and
SERVING_VLLM_SERVERS read from the environment (JSON or pairs), a malformed value refused clearly."""

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.serving.vllm import adapter_path, server_url
from controlplane.env import env_map
from controlplane.settings import _vllm_servers


def test_a_base_model_is_found_by_hf_id_or_name(settings: Any) -> None:
    settings.SERVING_VLLM_SERVERS = {"Qwen/Qwen2.5-1.5B-Instruct": "http://a/v1", "Tiny": "http://b/v1"}
    assert server_url("Qwen/Qwen2.5-1.5B-Instruct", "Qwen") == "http://a/v1"
    assert server_url("acme/tiny", "Tiny") == "http://b/v1"
    assert server_url("acme/other", "Other") is None


def test_an_adapter_under_the_artifact_root_is_where_vllm_mounts_it(settings: Any, tmp_path: Any) -> None:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.SERVING_VLLM_ARTIFACT_ROOT = "/data/artifacts"
    assert adapter_path(str(tmp_path / "artifacts" / "runs" / "7" / "adapter")) == "/data/artifacts/runs/7/adapter"
    assert adapter_path("/elsewhere/adapter") == "/elsewhere/adapter"
    settings.SERVING_VLLM_ARTIFACT_ROOT = str(tmp_path / "artifacts")  # the default: the same path
    assert adapter_path(str(tmp_path / "artifacts" / "a")) == str(tmp_path / "artifacts" / "a")


def test_servers_are_read_as_json_or_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_MAP", '{"Qwen/Qwen2.5-1.5B-Instruct": "http://vllm:8000/v1/"}')
    assert _vllm_servers(env_map("X_MAP")) == {"Qwen/Qwen2.5-1.5B-Instruct": "http://vllm:8000/v1"}
    monkeypatch.setenv("X_MAP", "a/b=http://one:8000/v1, c=https://two/v1")
    assert _vllm_servers(env_map("X_MAP")) == {"a/b": "http://one:8000/v1", "c": "https://two/v1"}
    monkeypatch.setenv("X_MAP", "")
    assert env_map("X_MAP") == {} and env_map("X_UNSET") == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"a": ', "X_MAP is not valid JSON"),
        ('{"a": 1}', "X_MAP must map names to strings"),
        ("a=http://x/v1,b", "X_MAP must be name=value pairs separated by commas, got 'b'"),
    ],
)
def test_a_malformed_mapping_is_improperly_configured(monkeypatch: pytest.MonkeyPatch, raw: str, message: str) -> None:
    monkeypatch.setenv("X_MAP", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_map("X_MAP")


@pytest.mark.parametrize("url", ["vllm:8000/v1", "ftp://vllm/v1", "http://vllm:8000", "http:///v1"])
def test_a_server_address_must_be_http_up_to_v1(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="the server of m must be an http\\(s\\) address up to /v1"):
        _vllm_servers({"m": url})
