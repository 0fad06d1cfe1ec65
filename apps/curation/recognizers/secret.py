"""API keys, tokens and other credentials, by their published formats."""

import re

from presidio_analyzer import Pattern, PatternRecognizer

# JSON keys whose values are secrets whatever they look like (the scanner replaces those values whole).
SECRET_FIELD = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|auth(orization)?|credential|private[_-]?key", re.I)


class SecretRecognizer(PatternRecognizer):
    """OpenAI/Anthropic ("sk-", "sk-proj-", "sk-ant-"), AWS access key ids, GitHub, Slack and Google API
    tokens, JWTs, "Bearer ..." headers, PEM private-key headers and our own "ds_" keys.

    No pattern can fail after scanning a long run from many starts: a JWT starts only where its run of
    token characters starts ("eyJ-eyJ-..." made the \\b version quadratic), and the key header's words
    are bounded.

    Known misses: secrets with no fixed prefix (AWS secret access keys, database passwords, Stripe or
    Azure keys, hex tokens) unless they are the value of a JSON key named like a secret (SECRET_FIELD,
    applied by the scanner); a private key's body when its "-----BEGIN" line was cut off; keys shorter
    than their format's minimum (truncated in the log); "Basic" auth headers."""

    PATTERNS = [
        Pattern("openai key", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}\b", 0.9),
        Pattern("aws access key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0.9),
        Pattern("github token", r"\bgh[pousr]_[A-Za-z0-9]{30,}\b", 0.9),
        Pattern("slack token", r"\bxox[abpors]-[A-Za-z0-9\-]{10,}\b", 0.9),
        Pattern("google api key", r"\bAIza[0-9A-Za-z_\-]{35}\b", 0.9),
        Pattern("jwt", r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b", 0.9),
        Pattern("bearer header", r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=]{16,}", 0.8),
        Pattern("private key", r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----", 0.95),
        Pattern("downshift key", r"\bds_[A-Za-z0-9_\-]{30,}\b", 0.9),
    ]

    def __init__(self) -> None:
        super().__init__(supported_entity="SECRET", patterns=self.PATTERNS, name="SecretTokenRecognizer")
