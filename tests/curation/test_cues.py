"""The cue recognizer: names and places found by the words around them, and near-misses it must leave."""

import pytest

from apps.curation.recognizers.cues import CueRecognizer


def found(text: str, entity: str | None = None) -> list[tuple[str, str]]:
    results = CueRecognizer().analyze(text, ["PERSON", "LOCATION"])
    return [(r.entity_type, text[r.start : r.end]) for r in results if entity in (None, r.entity_type)]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Name on card: OLAF WOWRA\nOrder: VK418631", "OLAF WOWRA"),
        ("Recipient: robyn chen.", "robyn chen"),
        ("Full name | AGATHE BERNIER\nIBAN | FR61", "AGATHE BERNIER"),
        ("Applicant: mirjam hendriks\nHome address: Main St", "mirjam hendriks"),
        ("Ship to: Oloyede, Inioluwa\nStreet: 6301 Awolowo Trail", "Oloyede, Inioluwa"),
        ("Emergency contact: Davit Parata (072900-47749)", "Davit Parata"),
        ("lookup_customer(customer_name='SISSEL DANIELSEN') -> 1 match", "SISSEL DANIELSEN"),
        ("Please contact our logistics lead Mr Isis Souza on (15) 5488-8805.", "Isis Souza"),
        ("Left voicemail for Dr Aparecida at +55 15 5413-1649.", "Aparecida"),
        ("Translate to French: Dear Mme Tupac Goikoetxea, your appointment is confirmed.", "Tupac Goikoetxea"),
        ("Hallo Giulia Gentilini,\n\nvielen Dank", "Giulia Gentilini"),
        ("Can you call me back? I'm Loes.", "Loes"),
        ("my name is zorblax vrentik and I need a refund", "zorblax vrentik"),
        ("Thanks for your help.\n\nCheers,\nNoor", "Noor"),
        ("renewal is due on 23/07/2026.\n\n--\nR.N.\nAccount Manager", "R.N."),
        ("Order JX428769 should still go to the old one. - E.K.", "E.K."),
        ("Spoke to A.T. too. Next step: demo", "A.T."),
        ("Updated billing for M. Parra: new IBAN", "M. Parra"),
        ("Escalation from gregory clements at Hope, Quinn and Holden", "gregory clements"),
        ("Account owner: HOVHANNES ALEMU. Build 12.1.7", "HOVHANNES ALEMU"),
        ("refund for anna smith today", "anna smith"),  # "ann" is a first name too: the whole word counts
    ],
)
def test_names_by_their_cues(text: str, name: str) -> None:
    assert ("PERSON", name) in found(text, "PERSON")


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("City: Muhos\nCountry: Cook Islands", "Muhos"),
        ("City: Muhos\nCountry: Cook Islands", "Cook Islands"),
        ('{"city": "Udumalaippettai"}', "Udumalaippettai"),
        ("address lookup -> Calw, Chad", "Calw"),
        ("they were travelling in Lao People's Democratic Republic at the time", "Lao People's Democratic Republic"),
        ("My name is Piotr and I live in Będzin. What's the weather?", "Będzin"),
        ("Your package left the depot in Tårs at 12:04", "Tårs"),
        ("Country | Trinidad and Tobago", "Trinidad and Tobago"),
    ],
)
def test_places_by_their_cues(text: str, place: str) -> None:
    assert ("LOCATION", place) in found(text, "LOCATION")


@pytest.mark.parametrize(
    "text",
    [
        "Hi team, the deploy is done.",
        "Dear customer, your order has shipped.",
        "This is urgent: the build fails.",
        'health_data: [{"name": "blood_pressure", "value": "120/80"}]',
        "Name: widget pro",
        "The U.S. office opens at 9 A.M. sharp.",
        "Best,\nThe Support Team",
        "mark as read and grace period ends",
        "Location: remote",
        "a spike-based Long Short-Term Memory network",
        "I love Lane, but I have never been there.",
        "Order 4111-1111 was shipped to warehouse 7.",
    ],
)
def test_near_misses_are_left(text: str) -> None:
    assert found(text) == []


def test_only_the_types_asked_for() -> None:
    text = "Recipient: Maria Lopez\nCity: Porto"
    assert {e for e, _ in found(text)} == {"PERSON", "LOCATION"}
    results = CueRecognizer().analyze(text, ["LOCATION"])
    assert [text[r.start : r.end] for r in results] == ["Porto"]


def test_a_label_value_stops_where_the_name_does() -> None:
    assert found("Customer: Maria Lopez confirmed the order", "PERSON") == [("PERSON", "Maria Lopez")]
    assert found("Owner: Maria Lopez since 2020", "PERSON") == [("PERSON", "Maria Lopez")]
