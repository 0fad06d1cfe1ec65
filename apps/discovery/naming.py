"""Names a person would give a task, drawn from the instruction in its call site's system prompt and the
shape of its answers: "Classify review sentiment", "Extract invoice fields as JSON", "Call tools to book
travel". A few rules over the first sentences ("You are a ... that classifies ...", "Your task is to ...",
"Given X, return Y", imperative sentences) find the main verb phrase and trim it to a few words.
Deterministic and light: no model. No instruction found (no system prompt, one in another language, only
context): the instruction most user turns share, else the keywords."""

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from apps.discovery.texts import OutputKind

_PLACEHOLDER = re.compile(r"<[A-Z_]+>")

NAME_MAX = 60
PROMPT_CHARS = 2000
TASK_VERBS = frozenset(
    """analyse analyze annotate answer ask assess assign book build calculate categorise categorize check choose
    classify clean compare complete compose compute convert correct count create critique debug decide describe
    design detect determine diagnose draft edit estimate evaluate expand explain extract fill filter find fix flag
    format generate grade group identify implement improve infer interpret label list locate manage map mark match
    moderate normalise normalize order outline paraphrase parse pick plan predict prioritise prioritize proofread
    rank rate recognise recognize recommend redact refactor reformat resolve review rewrite route schedule score search
    segment select shorten simplify solve sort spot suggest summarise summarize tag transcribe transform translate
    triage troubleshoot tutor update validate verify write""".split()
)
WEAK_VERBS = frozenset(
    "read look take consider use follow respond reply return output produce provide give help assist receive get "
    "handle process do make perform work serve support talk interact turn call".split()
)
_OUTPUT_VERBS = frozenset("return output produce provide give respond reply".split())
_ROLES = {
    "translator": "translate", "summarizer": "summarize", "summariser": "summarize", "classifier": "classify",
    "router": "route", "extractor": "extract", "parser": "parse", "tagger": "tag", "labeler": "label",
    "labeller": "label", "grader": "grade", "scorer": "score", "rater": "rate", "moderator": "moderate",
    "reviewer": "review", "writer": "write", "editor": "edit", "proofreader": "proofread", "generator": "generate",
    "planner": "plan", "recommender": "recommend", "detector": "detect", "checker": "check", "validator": "validate",
    "solver": "solve", "converter": "convert", "formatter": "format", "scheduler": "schedule",
}  # fmt: skip
_DROP = frozenset(
    """a an the this these those each every any some all given provided incoming following single exactly
    his her our your my user-provided supplied entire whole""".split()
)
_STOP = frozenset(
    """with using by based according in within on over at as against across among under after before during
    through which who whom whose where when whether while so because if unless but then than without step you
    your they it them is are be must should will can may only strictly carefully accurately concisely briefly
    politely clearly please via per below above here there like such e.g i.e etc""".split()
)
_STYLE = frozenset(
    """accurate brief clean clear concise correct detailed efficient formal friendly helpful idiomatic polite
    professional readable short simple simplified""".split()
)
_KEEP_PREPS = frozenset("for into from of about to between".split())
_NOT_INVERTED = frozenset(
    "list set number series group kind type sort piece part pair couple lot variety collection batch sequence".split()
)
_GENERIC_OBJECTS = frozenset(
    "json object answer response output result results text string word label value values reply message".split()
)
_LABEL_VERBS = frozenset(  # their answers are labels already: "(labels)" would add nothing
    """classify categorise categorize label tag route triage detect rate score grade decide determine identify
    predict moderate flag recognise recognize""".split()
)
_PRONOUNS = frozenset({"it", "them", "this", "that"})
_POSSESSIVES = frozenset({"its", "their"})

_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|vs|approx)\.", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+|\s+-\s+")
_CLAUSE_CUT = re.compile(r"[:{\[]|\s[-\u2013\u2014]\s")
_YOU_ARE = re.compile(r"^(?:you are|you're|you act as|act as)\s+(?P<role>.*)$", re.I)
_RELATIVE = re.compile(r"^(?P<head>.*?)\b(?:that|who|which)\s+(?:\w+ly\s+)?(?:can\s+|will\s+)?(?P<rest>.+)$", re.I)
_ATTACHED = re.compile(r"[,;]|\b(?:for|of|at|in|on|from|inside|with|by)\b", re.I)  # "an agent for a shop that"
_EXPERT = re.compile(
    r"\b(?:expert|specialist|skilled|specialized|specialised|good|great)\s+(?:at|in)\s+(?P<rest>.+)$", re.I
)
_YOUR_JOB = re.compile(
    r"\byour (?:main |primary |only |sole |one )?(?:job|task|role|goal|purpose|mission|objective|responsibility|work)"
    r" (?:here )?(?:is|will be)\s+(?:to\s+)?(?P<rest>.+)$",
    re.I,
)
_RESPONSIBLE = re.compile(r"\byou(?: are|'re) (?:responsible for|tasked with|in charge of)\s+(?P<rest>.+)$", re.I)
_MODAL = re.compile(
    r"^(?:you|we)\s+(?:will|should|must|can|shall|need to|have to|are to|are going to|are asked to|'ll)\s+"
    r"(?:always\s+)?(?P<rest>.+)$",
    re.I,
)
_WANT = re.compile(r"^(?:i|we)\s+(?:want|need|would like)\s+you\s+to\s+(?P<rest>.+)$", re.I)
_HELP = re.compile(
    r"^(?:you\s+)?help(?:s)?\s+(?:the\s+|our\s+)?(?:user|users|customer|customers|people|me|us|them|agents?)\s+"
    r"(?:to\s+)?(?P<rest>.+)$",
    re.I,
)
_YOU_VERB = re.compile(r"^you\s+(?:\w+ly\s+)?(?P<rest>.+)$", re.I)
_GIVEN = re.compile(r"^(?:given|for|from)\s+(?P<given>[^,]{2,80}),\s*(?:please\s+)?(?P<rest>.+)$", re.I)
_NEGATIVE = re.compile(r"^(?:do not|don't|never|avoid|always|be|note|remember|make sure|ensure)\b", re.I)


@dataclass(frozen=True)
class _Phrase:
    verb: str
    words: tuple[str, ...]  # the object and at most one phrase after it, in the prompt's own words
    given: tuple[str, ...] = ()  # "Given X, ...": X

    @property
    def weak(self) -> bool:
        return self.verb in WEAK_VERBS

    def text(self) -> str:
        words = list(self.words)
        if self.verb in _OUTPUT_VERBS and self.given and not any(w in _KEEP_PREPS for w in words):
            words += ["for", *self.given]
        return " ".join([self.verb.capitalize(), *words])


def _base(word: str) -> str | None:
    """A task verb from its base, third-person or -ing form, else None."""
    w = word.lower().strip(".,;:!?\"'")
    if w in TASK_VERBS or w in WEAK_VERBS:
        return w
    candidates = []
    if w.endswith("ies"):
        candidates.append(w[:-3] + "y")
    if w.endswith("es"):
        candidates.append(w[:-2])
    if w.endswith("s"):
        candidates.append(w[:-1])
    if w.endswith("ing"):
        stem = w[:-3]
        candidates += [stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem]
    return next((c for c in candidates if c in TASK_VERBS or c in WEAK_VERBS), None)


def _clean(word: str) -> str:
    word = word.strip("\"'`*_\u201c\u201d\u2018\u2019")
    for suffix in ("'s", "\u2019s"):
        if word.lower().endswith(suffix):
            word = word[: -len(suffix)]
    return word


def _noun_phrase(tokens: list[str], limit: int, *, then_to: bool = False) -> tuple[list[str], int]:
    """Content words from the start of `tokens` up to a stop, a kept preposition or punctuation (`then_to`:
    "from English to German" reads on through one "to"). Returns the words and how many tokens were read."""
    words: list[str] = []
    read = 0
    while read < len(tokens) and len(words) < limit:
        raw = tokens[read]
        ends = raw[-1:] in ",;.!?"
        word = _clean(raw.rstrip(",;.!?"))
        low = word.lower()
        following = _clean(tokens[read + 1]).lower() if read + 1 < len(tokens) else ""
        if low in ("and", "or", "&"):
            if not words or _base(following) or following in _STOP:
                break
            words.append(low)
        elif low == "one" and following == "of":
            read += 1
        elif low in ("that", "one"):
            if words:
                break
        elif low == "to" and then_to and words:
            words.append(low)
            then_to = False
        elif low in _KEEP_PREPS or low in _STOP:
            break
        elif ends and not words and low in _STYLE and following and following not in _STOP:
            read += 1  # "write clean, idiomatic code": the manner, not the thing
            continue
        elif word and low not in _DROP and not _PLACEHOLDER.fullmatch(word):
            words.append(word)
        read += 1
        if ends:
            break
    while words and words[-1] in ("and", "or", "&", "to"):
        words.pop()
    return words, read


def _whether(verb: str, tokens: list[str], context: list[str]) -> _Phrase | None:
    """A yes/no instruction: 'decide whether it is spam' -> Decide whether <context> is spam."""
    words: list[str] = [_clean(tokens[0]).lower()]
    for raw in tokens[1:9]:
        word = _clean(raw.rstrip(",;.!?"))
        if word.lower() in ("it", "they") and context:
            words += context
        elif word.lower() not in _DROP:
            words.append(word)
        if raw[-1:] in ",;.!?" or word.lower() in ("or", "and"):
            break
    while words and words[-1].lower() in ("or", "and", "not"):
        words.pop()
    return _Phrase(verb, tuple(words)) if len(words) >= 3 else None


def _pronoun(tokens: list[str]) -> bool:
    """An object that stands for another: 'route it', 'fix this.' (but not 'fix this bug')."""
    first = _clean(tokens[0].rstrip(",;.!?")).lower()
    if first in ("it", "them"):
        return True
    if first not in _PRONOUNS:
        return False
    following = _clean(tokens[1]).lower() if len(tokens) > 1 else ""
    return tokens[0][-1:] in ",;.!?" or not following or following in _STOP or following in _KEEP_PREPS


def _verb_phrase(text: str, given: tuple[str, ...] = (), context: list[str] | None = None) -> _Phrase | None:
    """The verb at the start of `text` and its object; None when `text` does not start with a task verb.
    The object may be empty (a pronoun): `context` stands for "it"."""
    tokens = text.split()
    if not tokens:
        return None
    verb = _base(tokens[0])
    if verb is None:
        return None
    rest = tokens[1:]
    if verb in ("call", "use") and rest:
        return _tool_phrase(verb, rest, given)
    if rest and _clean(rest[0]).lower() in ("whether", "if"):
        return _whether(verb, rest, context or [])
    pronoun = bool(rest) and _pronoun(rest)
    possessive = bool(rest) and _clean(rest[0]).lower() in _POSSESSIVES
    if pronoun or possessive:
        rest = rest[1:]
    words, read = ([], 0) if pronoun else _noun_phrase(rest, 4)
    if pronoun and context:
        words = list(context)
    if possessive and verb not in _OUTPUT_VERBS:  # an output verb says "for <given>" instead (_Phrase.text)
        words = [*given, *words] if 0 < len(given) <= 2 else words
    rest = rest[read:]
    if rest and _clean(rest[0]).lower() in ("and", "then") and (verb in WEAK_VERBS or not words):
        nxt = _verb_phrase(" ".join(rest[1:]), given, words)
        if nxt is not None and not nxt.weak and nxt.words:
            return nxt
    if rest and words:
        prep = _clean(rest[0]).lower()
        if prep in _KEEP_PREPS and not (prep == "to" and len(rest) > 1 and _base(rest[1])):
            tail, _ = _noun_phrase(rest[1:], 3, then_to=prep == "from")
            if tail and prep == "of" and len(words) == 1 and len(tail) <= 2 and words[0].lower() not in _NOT_INVERTED:
                words = [*tail, *words]
            elif tail:
                words += [prep, *tail]
    return _Phrase(verb, tuple(words), given)


def _tool_phrase(verb: str, rest: list[str], given: tuple[str, ...]) -> _Phrase | None:
    """A tool-calling instruction: 'Call the tools provided to book travel' -> Call tools to book travel."""
    head, read = _noun_phrase(rest, 3)
    if not any(w.lower().rstrip("s") in ("tool", "function", "api") for w in head):
        return _Phrase(verb, tuple(head), given) if verb == "call" else None
    tail = rest[read:]
    if tail and _clean(tail[0]).lower() == "to":
        purpose = _verb_phrase(" ".join(tail[1:]), given)
        if purpose is not None and purpose.words:
            return _Phrase("call", ("tools", "to", purpose.verb, *purpose.words), given)
    return _Phrase("call", ("tools",), given)


def _sentences(prompt: str) -> list[str]:
    text = _ABBREVIATIONS.sub("", _PARENS.sub("", prompt))
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = _CLAUSE_CUT.split(sentence, maxsplit=1)[0].strip(" .!?\"'*#>")
        if len(sentence.split()) >= 2 or (sentence and not out):
            out.append(sentence)
        if len(out) >= 8:
            break
    return out


def _from_sentence(sentence: str) -> _Phrase | None:
    given: tuple[str, ...] = ()
    if match := _GIVEN.match(sentence):
        given = tuple(_noun_phrase(match["given"].split(), 3)[0])
        sentence = match["rest"]
    if _NEGATIVE.match(sentence):
        return None
    if match := _YOU_ARE.match(sentence):
        role = match["role"]
        if (rel := _RELATIVE.match(role)) and not _ATTACHED.search(rel["head"]):
            helped = _HELP.match(rel["rest"])  # "an assistant that helps people find information"
            return _verb_phrase(helped["rest"] if helped else rel["rest"], given)
        if expert := _EXPERT.search(role):
            return _verb_phrase(expert["rest"], given)
    for pattern in (_YOUR_JOB, _RESPONSIBLE, _WANT, _HELP, _MODAL):
        if match := pattern.search(sentence):
            return _verb_phrase(match["rest"], given)
    if match := _YOU_VERB.match(sentence):
        return _verb_phrase(match["rest"], given)
    words = sentence.split()
    if words[0].lower() == "please":
        sentence = " ".join(words[1:])
    return _verb_phrase(sentence, given)


def _role_phrase(prompt: str) -> _Phrase | None:
    """A role noun: 'You are a sentiment classifier' -> Classify sentiment (when no sentence says more)."""
    for sentence in _sentences(prompt)[:3]:
        match = _YOU_ARE.match(sentence)
        if not match:
            continue
        words = [_clean(w) for w in match["role"].split()[:6]]
        for i, word in enumerate(words):
            verb = _ROLES.get(word.lower().rstrip(",."))
            if verb:
                head = [w for w in words[:i] if w.lower() not in _DROP]
                return _Phrase(verb, tuple(head)) if head else None
    return None


def instruction(prompt: str) -> str | None:
    """The instruction in a system prompt as a short verb phrase ("Classify review sentiment"), or None.
    Reads the first PROMPT_CHARS characters only (the first sentences say what the task is)."""
    prompt = (prompt or "")[:PROMPT_CHARS]
    if not prompt.strip():
        return None
    if prompt.isupper():
        prompt = prompt.lower()
    weak: _Phrase | None = None
    for sentence in _sentences(prompt)[:6]:
        phrase = _from_sentence(sentence)
        if phrase is None or not phrase.words:
            continue
        if not phrase.weak:
            return _fit(phrase.text())
        weak = weak or phrase
    role = _role_phrase(prompt)
    if role is not None:
        return _fit(role.text())
    if weak is not None and not all(w.lower() in _GENERIC_OBJECTS for w in weak.words):
        return _fit(weak.text())
    return None


def _fit(name: str, limit: int = NAME_MAX) -> str:
    if name.isupper():
        name = name.lower()
    name = name[:1].upper() + name[1:]
    words = name.split()
    while len(" ".join(words)) > limit and len(words) > 2:
        words.pop()
    while len(words) > 2 and words[-1].lower() in _KEEP_PREPS | {"and", "or", "&", "to"}:
        words.pop()
    return " ".join(words)[:limit]


def with_kind(name: str, output_kind: str) -> str:
    """The answer's shape, when the name does not say it already."""
    low = name.lower()
    verb = low.split()[0] if low else ""
    suffix = {
        OutputKind.JSON: " as JSON" if "json" not in low else "",
        OutputKind.SQL: " as SQL" if "sql" not in low and "query" not in low else "",
        OutputKind.TOOL_CALLS: " with tools" if "tool" not in low else "",
        OutputKind.LABEL: " (labels)" if verb not in _LABEL_VERBS and "label" not in low else "",
        OutputKind.CODE: " (code)" if not re.search(r"\b(?:code|script|function|program|query)", low) else "",
    }.get(output_kind, "")
    return name + suffix if suffix and len(name + suffix) <= NAME_MAX else name


def keyword_name(words: list[str], output_kind: str) -> str:
    """The fallback: the top keywords and the output kind, e.g. "Film / good / great (labels)"."""
    kind = {
        OutputKind.LABEL: "labels",
        OutputKind.JSON: "JSON",
        OutputKind.TOOL_CALLS: "tool calls",
        OutputKind.SQL: "SQL",
        OutputKind.CODE: "code",
        OutputKind.TEXT: "text",
    }.get(output_kind, "")
    head = " / ".join(words[:3]) or "unnamed task"
    return _fit(f"{head} ({kind})" if kind else head)


def task_name(*, system_prompts: list[str], user_texts: list[str], output_kind: str, keywords: list[str]) -> str:
    """`system_prompts`: the task's distinct system prompts, most used first."""
    for prompt in system_prompts[:3]:
        if found := instruction(prompt):
            return with_kind(found, output_kind)
    said = Counter(found for text in user_texts if (found := instruction(text)))
    if said:
        common, n = said.most_common(1)[0]
        if n >= max(2, 0.3 * len(user_texts)):
            return with_kind(common, output_kind)
    return keyword_name(keywords, output_kind)


def distinct_names(names: dict[str, str], keywords: dict[str, list[str]], taken: Iterable[str] = ()) -> dict[str, str]:
    """The same name twice (two call sites with one instruction) gets a keyword of its own, then a number.
    `taken`: names other tasks keep (people set them)."""
    seen = {n.lower() for n in taken}
    groups: dict[str, list[str]] = {}
    for key, name in names.items():
        groups.setdefault(name.lower(), []).append(key)
    out: dict[str, str] = {}
    for key, name in names.items():
        clash = len(groups[name.lower()]) > 1 or name.lower() in seen
        if clash:
            own = [w for w in keywords.get(key, []) if w.lower() not in name.lower()]
            others = {w for k in groups[name.lower()] if k != key for w in keywords.get(k, [])[:3]}
            word = next((w for w in own if w not in others), None)
            if word:
                name = f"{_fit(name, NAME_MAX - len(word) - 3)} ({word})"
        number = 2
        base = name
        while name.lower() in seen:
            suffix = f" {number}"
            name = _fit(base, NAME_MAX - len(suffix)) + suffix
            number += 1
        seen.add(name.lower())
        out[key] = name
    return out
