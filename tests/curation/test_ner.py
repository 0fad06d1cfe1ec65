"""Optional NER models: small spaCy and transformers models built here, saved to disk and loaded the way a
project's configured model is, then asked for names at exact offsets."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import spacy
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

from apps.curation.ner import NerModelError, ner_model_kind, ner_recognizer_load

ALL = ["PERSON", "LOCATION", "ORGANIZATION"]

NAMES = [
    "Zorblax Quintero", "Ilse Varga", "Tomasz Okafor", "Mirela Duchamp",
    "Kwame Lindgren", "Anouk Petrov", "Rafferty Obi", "Sunniva Castell",
]  # fmt: skip
TEMPLATES = ["my name is {}", "contact {} today", "please ask {} about the invoice", "the ticket was opened by {}"]
NO_NAMES = ["the invoice was paid today", "please close the ticket", "my invoice is about the ticket"]


def found(recognizer_results: list, text: str) -> list[tuple[str, str, int, int]]:
    return sorted((r.entity_type, text[r.start : r.end], r.start, r.end) for r in recognizer_results)


@pytest.fixture(scope="module")
def spacy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(  # type: ignore[attr-defined]
        [
            {"label": "PERSON", "pattern": "Zorblax Quintero"},
            {"label": "PERSON", "pattern": "Ilse Varga"},
            {"label": "GPE", "pattern": "Reykjavik"},
            {"label": "ORG", "pattern": "Acme Widgets"},
            {"label": "DATE", "pattern": "Tuesday"},
        ]
    )
    path = tmp_path_factory.mktemp("models") / "spacy-ner"
    nlp.to_disk(path)
    return path


def test_a_spacy_pipeline_finds_people_places_and_organisations_at_their_offsets(spacy_model: Path) -> None:
    recognizer = ner_recognizer_load(str(spacy_model))
    text = "On Tuesday Zorblax Quintero flew from Reykjavik to meet Acme Widgets."

    assert recognizer.name == "SpacyNerRecognizer"
    assert sorted(recognizer.supported_entities) == sorted(ALL)
    assert found(recognizer.analyze(text, ALL), text) == [
        ("LOCATION", "Reykjavik", 38, 47),
        ("ORGANIZATION", "Acme Widgets", 56, 68),
        ("PERSON", "Zorblax Quintero", 11, 27),
    ]
    assert {r.score for r in recognizer.analyze(text, ALL)} == {0.85}


def test_only_the_requested_entities_are_returned(spacy_model: Path) -> None:
    recognizer = ner_recognizer_load(str(spacy_model))
    text = "Ilse Varga moved to Reykjavik"

    assert found(recognizer.analyze(text, ["PERSON"]), text) == [("PERSON", "Ilse Varga", 0, 10)]
    assert found(recognizer.analyze(text, ["LOCATION", "EMAIL_ADDRESS"]), text) == [("LOCATION", "Reykjavik", 20, 29)]
    assert recognizer.analyze(text, ["EMAIL_ADDRESS"]) == []


def test_a_long_text_is_read_to_its_end_with_offsets_into_the_whole_text(spacy_model: Path) -> None:
    recognizer = ner_recognizer_load(str(spacy_model))
    text = "nothing to see here\n" * 6_000 + "signed, Ilse Varga"

    assert found(recognizer.analyze(text, ALL), text) == [("PERSON", "Ilse Varga", len(text) - 10, len(text))]


def test_the_model_is_loaded_once_until_it_is_saved_again(spacy_model: Path) -> None:
    first = ner_recognizer_load(str(spacy_model))

    assert ner_recognizer_load(str(spacy_model) + "/") is first
    stat = (spacy_model / "meta.json").stat()
    os.utime(spacy_model / "meta.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert ner_recognizer_load(str(spacy_model)) is not first


def _sentences() -> tuple[list[str], list[str]]:
    """Every name in every template, less one pairing per name, which is held out."""
    train, held_out = list(NO_NAMES), []
    for n, name in enumerate(NAMES):
        for t, template in enumerate(TEMPLATES):
            (held_out if n % len(TEMPLATES) == t else train).append(template.format(name))
    return train, held_out


def _word_labels(sentence: str) -> list[int]:
    labels = [0] * len(sentence.split())
    for name in NAMES:
        if name in sentence:
            first = sentence[: sentence.index(name)].count(" ")
            labels[first] = 1
            for i in range(first + 1, first + len(name.split())):
                labels[i] = 2
    return labels


@pytest.fixture(scope="module")
def transformers_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT trained on CPU to tag the names in template sentences, with a word-level tokenizer."""
    torch.manual_seed(0)
    train, held_out = _sentences()
    words = sorted({w for s in train + held_out for w in s.split()})
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=32,  # short, so a long text runs through overlapping windows
    )
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        id2label={0: "O", 1: "B-PER", 2: "I-PER"},
        label2id={"O": 0, "B-PER": 1, "I-PER": 2},
    )
    model = BertForTokenClassification(config)
    batch = tokenizer(train, padding=True, return_tensors="pt")
    labels = torch.full_like(batch["input_ids"], -100)
    for row, sentence in enumerate(train):
        word_labels = _word_labels(sentence)
        labels[row, 1 : len(word_labels) + 1] = torch.tensor(word_labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    model.train()
    for _ in range(60):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    path = tmp_path_factory.mktemp("models") / "bert-ner"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_transformers_model_finds_a_name_in_a_sentence_it_was_not_trained_on(transformers_model: Path) -> None:
    recognizer = ner_recognizer_load(str(transformers_model))
    text = "contact Ilse Varga today"

    assert text in _sentences()[1]
    assert recognizer.name == "TransformersNerRecognizer"
    results = recognizer.analyze(text, ALL)
    assert found(results, text) == [("PERSON", "Ilse Varga", 8, 18)]
    assert 0.5 < results[0].score <= 1.0
    assert recognizer.analyze(text, ["LOCATION"]) == []


def test_a_transformers_model_reads_a_long_text_in_pieces(transformers_model: Path) -> None:
    recognizer = ner_recognizer_load(str(transformers_model))
    lines = [*NO_NAMES * 6, "my name is Zorblax Quintero", *NO_NAMES * 40, "the ticket was opened by Kwame Lindgren"]
    text = "\n".join(lines + NO_NAMES * 6)  # the names lie deep in pieces longer than the model's 32 tokens
    zorblax, kwame = text.index("Zorblax Quintero"), text.index("Kwame Lindgren")

    assert found(recognizer.analyze(text, ["PERSON"]), text) == [
        ("PERSON", "Kwame Lindgren", kwame, kwame + 14),
        ("PERSON", "Zorblax Quintero", zorblax, zorblax + 16),
    ]


def test_the_kind_of_model_is_told_from_its_files(spacy_model: Path, transformers_model: Path) -> None:
    assert ner_model_kind(str(spacy_model)) == "spacy"
    assert ner_model_kind(str(transformers_model)) == "transformers"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "bert"}, "has no id2label"),
        ({"architectures": ["BertForSequenceClassification"], "id2label": {"0": "NEG"}}, "token-classification"),
        ({"architectures": ["BertForTokenClassification"], "id2label": {"0": "NOUN", "1": "VERB"}}, "NOUN, VERB"),
        (["not", "a", "config"], "not a transformers model config"),
    ],
)
def test_a_config_that_is_not_an_ner_model_is_refused(tmp_path: Path, config: object, message: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))

    with pytest.raises(NerModelError, match=message):
        ner_recognizer_load(str(tmp_path))


def test_a_path_that_is_not_a_model_is_refused_with_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(NerModelError, match="does not exist"):
        ner_recognizer_load(str(tmp_path / "missing"))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(NerModelError, match="not a directory"):
        ner_recognizer_load(str(tmp_path / "weights.bin"))
    with pytest.raises(NerModelError, match=r"neither a spaCy pipeline \(config.cfg and meta.json"):
        ner_recognizer_load(str(tmp_path))


def test_a_model_that_fails_to_load_says_why(tmp_path: Path) -> None:
    config = {"model_type": "bert", "architectures": ["BertForTokenClassification"], "id2label": {"0": "B-PER"}}
    (tmp_path / "config.json").write_text(json.dumps(config))

    with pytest.raises(
        NerModelError, match=r"Could not load the transformers model at .*no file named model\.safetensors"
    ):
        ner_recognizer_load(str(tmp_path))


def test_a_spacy_pipeline_that_fails_to_load_says_why(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler")
    nlp.to_disk(tmp_path)
    config = (tmp_path / "config.cfg").read_text()
    (tmp_path / "config.cfg").write_text(config.replace('factory = "entity_ruler"', 'factory = "fancy_ner"'))

    with pytest.raises(NerModelError, match=r"Could not load the spaCy pipeline at .*find factory for 'fancy_ner'"):
        ner_recognizer_load(str(tmp_path))


def test_a_spacy_pipeline_without_an_entity_component_is_refused(tmp_path: Path) -> None:
    spacy.blank("en").to_disk(tmp_path)

    with pytest.raises(NerModelError, match="no component that finds entities"):
        ner_recognizer_load(str(tmp_path))


def test_a_transformers_model_without_transformers_installed_says_to_install_it(
    transformers_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = shutil.copytree(transformers_model, tmp_path / "bert-ner")  # not the model already loaded
    monkeypatch.setitem(sys.modules, "transformers", None)

    with pytest.raises(NerModelError, match=r"transformers is not installed.*pip install '\.\[ml\]'"):
        ner_recognizer_load(str(copy))
