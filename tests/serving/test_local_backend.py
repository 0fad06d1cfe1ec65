"""The CPU backend answers a classifier deployment and LoRA specialists (several adapters on one base) in
the OpenAI shape, lists the deployments it serves, and says clearly what it cannot serve."""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.serving.models import Deployment
from tests.serving.conftest import as_classifier
from tests.tiny_llama import chat_rows, save_llama
from workers.serving.local_backend import LORA, Specialists, Target, serve

REVIEW = [{"role": "user", "content": "Terrible, it broke at once and I hate it."}]


def test_a_classifier_deployment_is_answered_in_the_openai_shape(
    local_backend: str, deploy: Callable[..., Deployment], classifier_dir: Path
) -> None:
    deployment = as_classifier(deploy("live", 100), classifier_dir)
    response = httpx.post(
        f"{local_backend}/chat/completions", json={"model": str(deployment.id), "messages": REVIEW}, timeout=60
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == str(deployment.id)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "negative"}
    models = httpx.get(f"{local_backend}/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == [str(deployment.id)]
    assert httpx.get(local_backend.removesuffix("/v1") + "/healthz", timeout=5).json() == {"status": "ok"}


def test_an_unknown_model_is_a_404_and_a_stream_a_400(local_backend: str) -> None:
    missing = httpx.post(f"{local_backend}/chat/completions", json={"model": "nope", "messages": REVIEW}, timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"
    streamed = httpx.post(
        f"{local_backend}/chat/completions", json={"model": "x", "messages": REVIEW, "stream": True}, timeout=10
    )
    assert streamed.status_code == 400


@pytest.fixture(scope="module")
def lora_base(
    tmp_path_factory: pytest.TempPathFactory, sample_records: list[dict[str, Any]]
) -> tuple[Path, Path, Path]:
    """A tiny Llama and two LoRA adapters on it (different random weights)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    records = [r for r in sample_records if r["task"] == "sentiment_classification"][:20]
    base = save_llama(tmp_path_factory.mktemp("tiny-llama"), chat_rows(records))
    adapters = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
        config = LoraConfig(
            r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM", init_lora_weights=False
        )
        folder = tmp_path_factory.mktemp(f"adapter-{seed}")
        get_peft_model(model, config).save_pretrained(str(folder))
        adapters.append(folder)
    return base, adapters[0], adapters[1]


@pytest.fixture
def lora_server(lora_base: tuple[Path, Path, Path]) -> Iterator[tuple[str, Specialists]]:
    import threading

    base, first, second = lora_base
    targets = {
        "specialist-a": Target(kind=LORA, path=str(first), base=str(base)),
        "specialist-b": Target(kind=LORA, path=str(second), base=str(base)),
    }
    specialists = Specialists(resolve=targets.get, names=lambda: sorted(targets), max_tokens=4)
    server = serve(host="127.0.0.1", port=0, specialists=specialists)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", specialists
    server.shutdown()
    server.server_close()


def test_lora_specialists_share_one_base_and_answer_greedily(lora_server: tuple[str, Specialists]) -> None:
    url, specialists = lora_server
    answers = []
    for name in ("specialist-a", "specialist-b", "specialist-a"):
        response = httpx.post(
            f"{url}/chat/completions", json={"model": name, "messages": REVIEW, "max_tokens": 50}, timeout=120
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["choices"][0]["message"]["role"] == "assistant"
        assert body["usage"]["completion_tokens"] <= 4  # the server's cap, below what was asked
        answers.append(body["choices"][0]["message"]["content"])
    assert answers[0] == answers[2]  # greedy: the same adapter answers the same
    assert len(specialists._bases) == 1
    assert len(next(iter(specialists._bases.values())).adapters) == 2


def test_a_classifier_answers_while_a_generation_holds_the_lora_lock(classifier_dir: Path) -> None:
    """A LoRA generation takes seconds: a classifier's call must not queue behind it (in the demo it did, and
    the gateway escalated the classifier's calls as timed out)."""
    from workers.serving.local_backend import CLASSIFIER

    specialists = Specialists(resolve=lambda name: Target(CLASSIFIER, str(classifier_dir)), names=lambda: ["c"])
    answers: list[Any] = []
    with specialists._locks[LORA]:  # a generation in progress
        asking = threading.Thread(target=lambda: answers.append(specialists.answer("c", {"messages": REVIEW})))
        asking.start()
        asking.join(timeout=60)
        assert not asking.is_alive(), "the classifier waited for the generation"
    assert answers[0] is not None and answers[0]["choices"][0]["message"]["content"] == "negative"
