"""The semantic cache's blind spot: questions an encoder scores as near-identical that ask different things.

Sentence encoders put "Why was my card declined?" and "Why wasn't my card declined?" at 0.9+ cosine,
and do the same for a changed number, a swapped name or an antonym. No similarity threshold can tell
them apart, so a semantic hit is refused, whatever its score, when the two texts differ in:

- negation: a different count of negating words (not, never, n't, no, without, ...);
- numbers: a different set of numbers, digits or number words;
- entities: a capitalised name, or a currency code or symbol, that the other text does not mention;
- antonyms: a word on one side whose opposite (from ANTONYMS) is on the other, the word itself not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[£$€¥]|\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_NEGATIONS = frozenset({
    "not", "no", "never", "nor", "neither", "none", "nobody", "nothing", "nowhere", "without", "cannot",
    "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont", "wouldnt", "couldnt",
    "shouldnt", "hasnt", "havent", "hadnt", "aint", "mustnt", "neednt", "unable", "unavailable", "impossible",
    "unsuccessful", "unverified", "unpaid", "unauthorised", "unauthorized", "unrecognised", "unrecognized",
})
_NUMBER_WORDS = frozenset({
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "fifteen", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "million", "billion", "once",
    "twice", "half", "double", "single", "first", "second", "third",
})
_CURRENCIES = frozenset({
    "£", "$", "€", "¥", "gbp", "usd", "eur", "euro", "euros", "dollar", "dollars", "pound", "pounds", "yen",
    "chf", "aud", "cad", "jpy", "cny", "inr", "pln", "sek", "nok", "dkk", "bitcoin", "btc", "crypto",
})
_PAIRS = (
    "increase decrease", "increased decreased", "raise lower", "add remove", "added removed",
    "deposit withdraw", "deposit withdrawal", "deposits withdrawals", "send receive", "sent received",
    "sending receiving", "incoming outgoing", "credit debit", "buy sell", "bought sold", "open close",
    "opened closed", "lock unlock", "locked unlocked", "freeze unfreeze", "frozen unfrozen",
    "activate deactivate", "activated deactivated", "enable disable", "enabled disabled", "accept decline",
    "accepted declined", "accept reject", "accepted rejected", "approve reject", "approved rejected",
    "approve deny", "approved denied", "before after", "more less", "more fewer", "higher lower",
    "high low", "maximum minimum", "max min", "most least", "early late", "earlier later", "fast slow",
    "faster slower", "old new", "older newer", "first last", "start stop", "started stopped",
    "include exclude", "included excluded", "allowed forbidden", "allowed prohibited",
    "true false", "right wrong", "correct incorrect", "valid invalid", "success failure",
    "succeeded failed", "pending completed", "pending complete", "arrive leave",
    "lend borrow", "charge refund", "charged refunded", "above below",
    "inside outside", "domestic international", "local foreign", "cheap expensive", "always never",
    "with without", "like dislike", "lost found", "visible hidden", "physical virtual",
    "personal business", "import export",
    "upgrade downgrade", "join leave", "link unlink", "linked unlinked",
    "block unblock", "blocked unblocked", "private public",
    "temporary permanent", "online offline", "instant delayed", "agree disagree",
    "permitted forbidden", "win lose", "gain loss", "top bottom",
    "minimum maximum", "lowest highest", "under over", "inbound outbound", "subscribe unsubscribe",
)
_IRREGULAR = {
    "sent": "send", "got": "get", "gotten": "get", "bought": "buy", "sold": "sell", "lost": "lose",
    "found": "find", "gave": "give", "given": "give", "took": "take", "taken": "take", "paid": "pay",
    "withdrew": "withdraw", "withdrawn": "withdraw", "withdrawal": "withdraw", "withdrawals": "withdraw",
    "froze": "freeze", "frozen": "freeze", "unfrozen": "unfreeze", "came": "come", "left": "leave",
    "higher": "high", "highest": "high", "lower": "low", "lowest": "low", "more": "more", "most": "more",
    "less": "less", "least": "less", "fewer": "less", "earlier": "early", "later": "late", "faster": "fast",
    "slower": "slow", "older": "old", "newer": "new", "won": "win", "maximum": "max", "minimum": "min",
}
_NUMBERS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
            "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "fifty": "50",
            "hundred": "100", "thousand": "1000", "once": "1", "twice": "2"}


def stem(word: str) -> str:
    """A crude stem, enough to match an antonym's inflections (received, receiving -> receiv)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    for suffix in ("ing", "ed", "es", "e", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


ANTONYMS: dict[str, frozenset[str]] = {}
for _pair in _PAIRS:
    _a, _b = (stem(word) for word in _pair.split())
    ANTONYMS[_a] = ANTONYMS.get(_a, frozenset()) | {_b}
    ANTONYMS[_b] = ANTONYMS.get(_b, frozenset()) | {_a}


@dataclass(frozen=True, slots=True)
class Signature:
    """What of a text the guard compares: its negations, numbers, names, words and word stems."""

    negations: int
    numbers: frozenset[str]
    entities: frozenset[str]
    words: frozenset[str]
    stems: frozenset[str]


def signature(text: str) -> Signature:
    text = text.replace("\u2019", "'")
    matches = list(_TOKEN.finditer(text))
    words = [m.group().lower().replace("'", "") for m in matches]
    numbers = {_NUMBERS.get(word, word).replace(",", "") for word in words
               if word[0].isdigit() or word in _NUMBER_WORDS}
    entities = {word for word in words if word in _CURRENCIES}
    # A capital inside a sentence marks a name ("Apple Pay", "Germany"), as does an acronym ("ATM").
    for m, word in zip(matches, words, strict=True):
        token = m.group()
        if token != "I" and token[:1].isupper() and (token[1:2].isupper() or not _starts_sentence(text, m.start())):
            entities.add(word)
    negations = sum(word in _NEGATIONS for word in words)
    return Signature(negations, frozenset(numbers), frozenset(entities), frozenset(words),
                     frozenset(stem(word) for word in words))


def _starts_sentence(text: str, start: int) -> bool:
    before = text[:start].rstrip()
    return not before or before[-1] in ".?!:;\"("


def differs(a: Signature, b: Signature) -> str | None:
    """Why a question with signature *a* must not take the answer cached for *b*; None when none applies."""
    if a.negations != b.negations:
        return "negation"
    if a.numbers != b.numbers:
        return "number"
    if (a.entities - b.words) or (b.entities - a.words):
        return "entity"
    only_a, only_b = a.stems - b.stems, b.stems - a.stems
    for word in only_a:
        if ANTONYMS.get(word, frozenset()) & only_b:
            return "antonym"
    return None
