"""Street addresses and US ZIP codes: off by default (a policy switches them on)."""

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

# Street suffixes (USPS Publication 28, with its standard abbreviations, and the British, Irish,
# Australian and Indian ones); the most common ones score higher.
COMMON_SUFFIXES = frozenset(
    "street st avenue ave av road rd boulevard blvd lane ln drive dr way court ct place pl terrace ter terr "
    "circle cir parkway pkwy highway hwy square sq trail trl crescent cres close row walk mews grove gardens "
    "gdns plaza plz alley aly loop path pike expressway expy freeway fwy turnpike tpke route rte marg".split()
)
SUFFIXES = COMMON_SUFFIXES | frozenset(
    "annex anx arcade arc bayou byu beach bch bend bnd bluff blf bottom btm branch br bridge brg brook brk "
    "burg bg bypass byp camp cp canyon cyn cape cpe causeway cswy center centre ctr cliff clf club clb common "
    "cmn corner cor course crse cove cv creek crk crest crst crossing xing crossroad curve curv dale dl dam "
    "dm divide dv estate est extension ext fall falls fls ferry fry field fld flat flt ford frd forest frst "
    "forge frg fork frk fort ft garden gdn gateway gtwy glen gln green grn harbor harbour hbr haven hvn "
    "heights hts hill hl hollow holw inlet inlt island is isle junction jct key ky knoll knl lake lk land "
    "landing lndg light lgt loaf lf lock lck lodge ldg mall manor mnr meadow mdw mill ml mission msn motorway "
    "mtwy mount mt mountain mtn neck nck orchard orch oval overpass opas park parks pass passage psge pine "
    "pne plain pln point pt port prt prairie pr radial radl ramp ranch rnch rapid rpd rest rst ridge rdg "
    "river riv rue run shoal shl shore shr skyway skwy spring spg spur stravenue stra stream strm summit smt "
    "throughway trwy station sta trace trce track trak trafficway trfy tunnel tunl underpass upas union un "
    "valley vly via viaduct vista vis view vw village vlg ville vl wall well wl quadrant thoroughfare dell "
    "parade promenade quay rise wynd esplanade embankment strand copse gully pathway chase end vale yard "
    "approach circus broadway chowk gali nagar".split()
)
FRENCH_TYPES = frozenset(
    "rue avenue av boulevard bd place allée allee impasse imp chemin quai route cours passage square voie "
    "sentier rond-point faubourg fbg promenade villa cité cite esplanade parvis hameau résidence residence".split()
)
PARTICLES = frozenset(
    "de du des la le les l d aux au sur sous en et à a saint sainte del las los el di della delle dei degli "
    "do da dos das e y i van von der den".split()
)
# Street types that come before the name: Spanish and Catalan (INE's types), Italian, Portuguese and
# Brazilian (the Correios list of "tipos de logradouro"), Polish.
TYPES_FIRST = (
    r"Calle|C/|C\.|Avenida|Avda\.|Av\.?|Paseo|Plaza|Pza\.|Camino|Carretera|Ctra\.|Ronda|Traves[ií]a|Callej[oó]n|"
    r"Glorieta|Rambla|Cuesta|Ca[ñn]ada|Pasaje|Pasadizo|Acceso|Bajada|Urbanizaci[oó]n|Vial|Carrer|V[ií]a|"
    r"Viale|Piazza|Piazzale|Piazzetta|Corso|Largo|Vicolo|Strada|Contrada|Borgo|Lungomare|Salita|Traversa|"
    r"Rua|R\.|Travessa|Pra[cç]a|Alameda|Estrada|Rodovia|Beco|Ladeira|Aeroporto|[ÁA]rea|Campo|Ch[áa]cara|"
    r"Col[ôo]nia|Condom[íi]nio|Conjunto|Distrito|Esplanada|Esta[çc][ãa]o|Fazenda|Feira|Jardim|Lago|Lagoa|"
    r"Loteamento|Morro|N[úu]cleo|Parque|Passarela|P[áa]tio|Praia|Quadra|Recanto|Residencial|Setor|S[íi]tio|"
    r"Trecho|Trevo|Vale|Vereda|Viaduto|Viela|Vila|"
    r"[uU]l\.|[uU]lica|[aA]l\.|[aA]leja|[pP]l\.|[pP]lac|[oO]s\.|[oO]siedle"
)
# Street words that end a compound name: German, Swiss, Austrian, Dutch, Swedish, Danish, Norwegian, Finnish.
COMPOUND_ENDINGS = (
    "straße", "strasse", "str.", "gasse", "weg", "allee", "platz", "damm", "ufer", "chaussee", "steig", "pfad",
    "graben", "stieg", "kai", "zeile", "straat", "laan", "gracht", "kade", "singel", "plein", "dijk", "steeg",
    "dreef", "baan", "boulevard", "vägen", "gatan", "gränd", "torget", "väg", "gata", "stigen", "backe", "vej",
    "gade", "stræde", "allé", "veien", "vegen", "stien", "bakken", "svingen", "plassen", "katu", "tie", "kuja",
    "polku", "bulevardi", "hof", "-ring", "-markt", "-berg",
)  # fmt: skip
STANDALONE_TYPES = frozenset("straße strasse str. weg allee platz gasse ring damm ufer markt chaussee".split())

_CAP = r"[A-ZÀ-ÖØ-ÞĄĆĘŁŃŚŹŻ][\w'\u2019.\-]{0,40}"
_CITY = rf"{_CAP}(?:[ \t]+(?:(?:am|an|der|vorm|sur|de|la|le|del|di|da|do|aan|op)[ \t]+)?{_CAP}){{0,3}}"
_POSTCODE_UK = r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}"
_POSTCODE_CA = r"[A-Z]\d[A-Z][ \t]?\d[A-Z]\d"
_EIRCODE = r"[A-Z]\d[\dW][ \t]?[A-Z\d]{4}"
# Postcodes written before the city: PL 00-590, PT 1200-195, BR 01310-100, SE 114 44, NL 1017 GB, 10115.
_POSTCODE_FIRST = r"(?:\d{2}-\d{3}|\d{4}-\d{3}|\d{5}-\d{3}|\d{3} \d{2}|\d{4,5}|\d{4}[ \t]?[A-Z]{2})"
_SEP = r"(?:[ \t]*[,\n][ \t]*\n?[ \t]*|[ \t]+)"
# After the street: a city with a ZIP or postcode, or a postcode with a city.
_TAIL = re.compile(
    rf"{_SEP}(?:(?:[A-Z]{{1,2}}-)?{_POSTCODE_FIRST},?{_SEP}{_CITY}"
    rf"|(?:{_CITY}{_SEP})?(?:[A-Z]{{2,3}},?[ \t]+)?"
    rf"(?:\d{{5}}(?:-\d{{4}})?|\d{{4}}|{_POSTCODE_UK}|{_POSTCODE_CA}|{_EIRCODE}))"
    r"(?![\w\-])"
)
_UNIT = re.compile(
    r",?[ \t]*(?:(?i:apt\.?|apartment|suite|ste\.?|unit|fl\.?|floor|bldg\.?|building|rm\.?|room|piso|puerta|planta|"
    r"esc\.|escalera|piano|appartamento|interno|int\.|scala|apto\.?|apartamento|andar|sala|bloco|lok\.|wohnung|whg\.)"
    r"[ \t]*#?[ \t]*[\w\-]{1,6}|#[ \t]*\d{1,6}|\d{1,2}[ºª°][ \t]*[A-Za-z]{0,4})(?![\w\-])"
)
_WORD = re.compile(r"[\w'\u2019.\-]{1,40}")
_ORDINAL = re.compile(r"\d{1,4}(?:st|nd|rd|th|e|er|re)\.?", re.I)


class StreetAddressRecognizer(EntityRecognizer):
    """Street addresses, in the forms most of Europe and the English-speaking world write them:
    - house number, name, suffix: "4890 Bowers View Apt. 883", "12 N 5th Street", "8/90 Sanchez Loop";
    - house number, French street type, name: "12 rue de la Paix", "468, chemin Jacqueline Didier";
    - street type, name, house number: "Calle Mayor 5", "Via Roma, 10", "Rua das Flores, 123", "ul. Długa 5/7";
    - compound street name, house number: "Hauptstraße 12a", "Kerkstraat 9", "Storgatan 12", and
      "Berliner Str. 45", "Am Markt 3".
    Each may carry a unit ("Apt 4B", "Suite 200", "Piso 3", "2º B", "#12"), a unit before it ("Flat 3,"),
    and a tail of city and ZIP or postcode ("Springfield, IL 62704", "10115 Berlin", "SW1A 1AA"), kept
    when it is there. Scores: 0.6 for a common suffix or a European form, 0.5 for the rarer USPS
    suffixes ("Views", "Union", "Key"), 0.7 with a unit, 0.85 with a ZIP or postcode; a context word
    ("address", "ship to", ...) raises it.

    Known misses: addresses with no house number ("Leigh Fort", "Studio 8"), with the number after the
    name in English ("Broadway 1") or a lower-case name ("12 main street"); "Avenue of the Americas" and
    other names with lower-case words in English; street types not listed (Norwegian names ending in
    nature words, "Laan van ..." and other types before the name in Dutch, Czech "třída"); a city with
    no ZIP or postcode (left in the text); PO boxes; Indian "H.No." forms. Known false positives:
    title-case phrases that end in a suffix word after a number ("5 Million Views", "3 Key Points")."""

    COMMON, RARE, WITH_UNIT, WITH_TAIL = 0.6, 0.5, 0.7, 0.85
    NUMBER_FIRST = re.compile(
        r"(?<![\w/.,\-])(?:(?i:flat|apartment|apt\.?|unit|suite|studio)[ \t]+[\w\-]{1,6},?[ \t]*\n?[ \t]*)?"
        r"\d{1,6}[A-Za-z]?(?:[/\-]\d{1,5}[A-Za-z]?)?,?[ \t]+(?=[^\W\d_])"
    )
    TYPE_FIRST = re.compile(rf"(?<![\w/])(?:{TYPES_FIRST})[ \t]+(?=[^\W\d_])")
    COMPOUND = re.compile(
        r"(?<![\w\-])([A-ZÄÖÜÅÆØ][\w\-]{1,40}\.?)[ \t]+(\d{1,5}(?:[ \t]?[a-zA-Z])?(?:[/\-]\d{1,4}[a-zA-Z]?)?)(?![\w\-])"
    )
    # "Berliner Straße", "Alte Gasse", "Am Markt", "An der Mauer": an adjective or a preposition, no more.
    BEFORE_STANDALONE = re.compile(
        r"(?<![\w\-])(?:[AaIi][mn]|[Zz]u[mr]|(?:Auf|An|In|Vor|Hinter|Unter) de[mnr]|[A-ZÄÖÜ][\wäöüß]*(?:er|e|es))"
        r"[ \t]+$"
    )
    NAME_GOES_ON = re.compile(rf"[ \t]+{_CAP}[ \t]+\d")
    HOUSE_NUMBER = re.compile(
        r",?[ \t]*(?:(?:(?i:n[ro]?)[º°.]?[ \t]*)?\d{1,5}[A-Za-z]?(?:[/\-]\d{1,4}[A-Za-z]?)?|[Ss]/[Nn])(?![\w\-])"
    )

    def __init__(self) -> None:
        super().__init__(
            supported_entities=["STREET_ADDRESS"],
            name="StreetAddressRecognizer",
            context=["address", "addr", "street", "ship", "shipping", "deliver", "delivery", "live", "lives",
                     "located", "mail", "adresse", "anschrift", "direccion", "indirizzo", "endereco", "adres"],
        )  # fmt: skip

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        found: list[tuple[int, int, float]] = []
        for match in self.NUMBER_FIRST.finditer(text):
            if street := self._number_first(text, match.end()):
                found.append((match.start(), *street))
        for match in self.TYPE_FIRST.finditer(text):
            if street := self._type_first(text, match.end()):
                found.append((match.start(), *street))
        for match in self.COMPOUND.finditer(text):
            if compound := self._compound(text, match):
                found.append(compound)
        results = []
        for start, end, score in found:
            end, score = self._extend(text, end, score)
            results.append(RecognizerResult("STREET_ADDRESS", start, end, score))
        return results

    def _words(self, text: str, position: int, limit: int = 7) -> list[re.Match[str]]:
        """Up to `limit` words from `position`, each one space or tab from the last."""
        words: list[re.Match[str]] = []
        while len(words) < limit and (word := _WORD.match(text, position)):
            words.append(word)
            gap = re.match(r"[ \t]+", text[word.end() : word.end() + 4])
            if not gap:
                break
            position = word.end() + gap.end()
        return words

    def _number_first(self, text: str, position: int) -> tuple[int, float] | None:
        words = self._words(text, position)
        if words and words[0].group().lower().rstrip(".") in FRENCH_TYPES:
            end = None
            for word in words[1:]:
                value = word.group()
                if value[0].isupper():
                    end = word.end()
                elif value.lower().rstrip("'\u2019") not in PARTICLES and not re.match(r"[ld]['\u2019]", value, re.I):
                    break
            return (end, self.COMMON) if end else None
        best: tuple[int, float] | None = None
        for i, word in enumerate(words):
            value = word.group()
            key = value.lower().rstrip(".")
            plural = key[:-1] if key.endswith("s") else key
            if i >= 1 and (key in SUFFIXES or plural in SUFFIXES):
                best = (word.end(), self.COMMON if key in COMMON_SUFFIXES else self.RARE)
            if not (value[0].isupper() or _ORDINAL.fullmatch(value)):
                break
        if best and (direction := re.match(r"[ \t]+([NSEW]{1,2}|North|South|East|West)\b\.?", text[best[0] :])):
            best = (best[0] + direction.end(), best[1])
        return best

    def _type_first(self, text: str, position: int) -> tuple[int, float] | None:
        """The end of "Calle Mayor 5", "al. Konstytucji 3 Maja 69": a number inside the name (no comma
        before it, a capitalised word other than a unit and another number after it) is read past."""
        end = None
        for word in self._words(text, position):
            value = word.group()
            if value[0].isupper():
                end = word.end()
                number = self.HOUSE_NUMBER.match(text, end)
                if number:
                    inside = "," not in number.group() and self.NAME_GOES_ON.match(text, number.end())
                    if not inside or _UNIT.match(text, number.end()):
                        return number.end(), self.COMMON
            elif not (value.lower() in PARTICLES or (value.isdigit() and end)):
                break
        return None

    def _compound(self, text: str, match: re.Match[str]) -> tuple[int, int, float] | None:
        name = match.group(1).lower()
        if len(name) > 5 and (name.endswith(COMPOUND_ENDINGS) or self._ring(name)):
            return match.start(), match.end(), self.COMMON
        if name in STANDALONE_TYPES:
            before = self.BEFORE_STANDALONE.search(text, max(0, match.start() - 40), match.start())
            if before:
                return match.start() - len(before.group()), match.end(), self.COMMON
        return None

    @staticmethod
    def _ring(name: str) -> bool:
        """A German "...ring" street ("Kaiserring", "Pauerring"), not an English "-ing" word ("Spring",
        "Offering", "Sharing"): the letter before "ring" is a consonant other than p and t, or an r."""
        return len(name) > 7 and name.endswith("ring") and (name[-5] not in "aeioupty" or name.endswith("rring"))

    @staticmethod
    def _extend(text: str, end: int, score: float) -> tuple[int, float]:
        """The address's end and score with the units and the city-and-postcode tail that follow it."""
        for _ in range(2):
            unit = _UNIT.match(text, end)
            if not unit:
                break
            end, score = unit.end(), max(score, StreetAddressRecognizer.WITH_UNIT)
        tail = _TAIL.match(text, end)
        if tail:
            end, score = tail.end(), StreetAddressRecognizer.WITH_TAIL
        return end, score


US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
).split()
US_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|"
    "Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|"
    "Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|"
    "North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|"
    "Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico|District of Columbia"
)


class UsZipCodeRecognizer(EntityRecognizer):
    """US ZIP codes (12345, 12345-6789) where something says they are one: a state before them
    ("Springfield, IL 62704", "Austin, Texas 78701") scores 0.6, a "zip" or "postal code" word or JSON
    key ("ZIP: 94105", "zipCode": "94105") 0.7. Only the ZIP itself is redacted.

    Known misses: a ZIP on its own ("send it to 94105"), after a state spelled differently ("Calif.",
    "Tex."), or after a line break that follows the state; Canadian and other postcodes (the address
    recognizer's tail finds those next to a street). Known false positives: a five-digit number after
    an upper-case word that is also a state code ("IN 20245", "OK 12345")."""

    AFTER_STATE, AFTER_WORD = 0.6, 0.7
    ZIP = r"(?P<zip>\d{5}(?:-\d{4})?)(?![\w\-])"
    PATTERNS = (
        (re.compile(rf"(?<![\w\-])(?:{'|'.join(US_STATES)}|{US_STATE_NAMES}),?[ \t]+{ZIP}"), AFTER_STATE),
        (
            re.compile(rf"(?i:\bzip(?:[ \t_\-]?code)?|\bpostal[ \t_\-]?code|\bpost[ \t_\-]?code)\W{{0,4}}{ZIP}"),
            AFTER_WORD,
        ),
    )

    def __init__(self) -> None:
        super().__init__(supported_entities=["US_ZIP_CODE"], name="UsZipCodeRecognizer")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        return [
            RecognizerResult("US_ZIP_CODE", match.start("zip"), match.end("zip"), score)
            for pattern, score in self.PATTERNS
            for match in pattern.finditer(text)
        ]
