"""A tokenizer following Lucene's ``StandardTokenizer`` (Lucene 9, the one Anserini indexes with).

``StandardTokenizer`` implements the word-boundary rules of Unicode UAX#29 and emits only the
segments that are words: runs of letters and digits, single ideographs and hiragana, runs of
katakana or of South-East Asian script, and emoji. This module reproduces those rules with the
``regex`` package's Unicode properties (``Word_Break``, ``Extended_Pictographic``):

* **WB4** -- combining marks, format characters and ZWJ (``Word_Break`` Extend, Format, ZWJ)
  stay attached to the character before them (``cafe\\u0301`` is one token).
* **WB5-WB12** -- letters and digits run together; a single "mid" character joins two letters
  (``MidLetter``/``MidNumLet``/``Single_Quote``: ``o'neil``, ``u.s.a``, ``a:b``, full-width
  ``U+FF1A``) or two digits (``MidNum``/``MidNumLet``/``Single_Quote``: ``1,000``, ``3.5``).
* **WB13-WB13b** -- katakana run together; ``ExtendNumLet`` (``_`` and its relatives) joins any
  of letters, digits and katakana.
* Han ideographs and hiragana are one token per character; South-East Asian scripts (Thai, Lao,
  Myanmar, Khmer) are one token per run, as the JFlex grammar does without a dictionary.
* **Emoji** (Lucene >= 7): every ``Extended_Pictographic`` character (``★ ✔ ❤ ✈ ™ © ®``), with
  its modifiers, ``U+FE0F``/Extend/ZWJ continuations and ZWJ sequences, is a token; so are
  regional-indicator pairs (flags) and keycaps (``1\\ufe0f\\u20e3``).
* Tokens longer than 255 characters are cut into 255-character pieces
  (``StandardTokenizer.setMaxTokenLength``'s default behaviour).

Everything else (spaces, punctuation, symbols that are not pictographic) separates tokens and is
dropped. The Unicode tables are those of the installed ``regex`` release, which can be newer than
the JFlex tables Lucene was generated from; the catalog contains no character whose class
differs between the two.
"""

from __future__ import annotations

import regex

MAX_TOKEN_LENGTH = 255
"""``StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH``."""

_EF = r"[\p{WB=Extend}\p{WB=Format}\p{WB=ZWJ}]*"  # WB4: attached to the previous character
_AH = r"[\p{WB=ALetter}\p{WB=Hebrew_Letter}]"
_NU = r"\p{WB=Numeric}"
_KA = r"\p{WB=Katakana}"
_ENL = r"\p{WB=ExtendNumLet}"
_MID_LETTER = r"[\p{WB=MidLetter}\p{WB=MidNumLet}\p{WB=Single_Quote}]"
_MID_NUM = r"[\p{WB=MidNum}\p{WB=MidNumLet}\p{WB=Single_Quote}]"

_AHX = _AH + _EF
_NUX = _NU + _EF
_KAX = _KA + _EF
_ENLX = _ENL + _EF
# Letters and digits (WB5, WB8-10) joined across one mid character between two letters (WB6/7)
# or two digits (WB11/12). The look-behinds skip the Extend/Format run after the left character.
_ALNUM_RUN = (
    rf"(?:{_AHX}|{_NUX})+"
    rf"(?:(?:(?<={_AH}{_EF}){_MID_LETTER}{_EF}(?={_AH})"
    rf"|(?<={_NU}{_EF}){_MID_NUM}{_EF}(?={_NU}))(?:{_AHX}|{_NUX})+)*"
)
_KATAKANA_RUN = rf"(?:{_KAX})+"
_WORD = (
    rf"(?:{_ENLX})*(?:{_ALNUM_RUN}|{_KATAKANA_RUN})"
    rf"(?:(?:{_ENLX})+(?:{_ALNUM_RUN}|{_KATAKANA_RUN}))*(?:{_ENLX})*"
)
_IDEOGRAPH = rf"[\p{{Han}}\p{{Hiragana}}]{_EF}"
_SOUTH_EAST_ASIAN = rf"(?:\p{{Line_Break=Complex_Context}}{_EF})+"

# Extended_Pictographic (Unicode 15, as ICU 72 reports it; the property is stable and was
# pre-assigned to whole blocks, so Lucene's older tables agree on every assigned character).
# The ``regex`` package's own \p{Extended_Pictographic} is narrower (it leaves out ★ and ☞),
# hence the explicit ranges.
_EXT_PICT = (
    "["
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9-\u21aa\u231a-\u231b\u2328"
    "\u2388\u23cf\u23e9-\u23f3\u23f8-\u23fa\u24c2\u25aa-\u25ab\u25b6\u25c0\u25fb-\u25fe"
    "\u2600-\u2605\u2607-\u2612\u2614-\u2685\u2690-\u2705\u2708-\u2712\u2714\u2716\u271d"
    "\u2721\u2728\u2733-\u2734\u2744\u2747\u274c\u274e\u2753-\u2755\u2757\u2763-\u2767"
    "\u2795-\u2797\u27a1\u27b0\u27bf\u2934-\u2935\u2b05-\u2b07\u2b1b-\u2b1c\u2b50\u2b55"
    "\u3030\u303d\u3297\u3299\U0001f000-\U0001f0ff\U0001f10d-\U0001f10f\U0001f12f"
    "\U0001f16c-\U0001f171\U0001f17e-\U0001f17f\U0001f18e\U0001f191-\U0001f19a"
    "\U0001f1ad-\U0001f1e5\U0001f201-\U0001f20f\U0001f21a\U0001f22f\U0001f232-\U0001f23a"
    "\U0001f23c-\U0001f23f\U0001f249-\U0001f3fa\U0001f400-\U0001f53d\U0001f546-\U0001f64f"
    "\U0001f680-\U0001f6ff\U0001f774-\U0001f77f\U0001f7d5-\U0001f7ff\U0001f80c-\U0001f80f"
    "\U0001f848-\U0001f84f\U0001f85a-\U0001f85f\U0001f888-\U0001f88f\U0001f8ae-\U0001f8ff"
    "\U0001f90c-\U0001f93a\U0001f93c-\U0001f945\U0001f947-\U0001faff\U0001fc00-\U0001fffd"
    "]"
)

# Emoji (UTS #51 sequences as Lucene's grammar accepts them).
_EMOJI_UNIT = (
    rf"(?:{_EXT_PICT}|\p{{Emoji_Modifier}})"
    r"[\p{WB=Extend}\p{WB=Format}\ufe0f]*"
)
_EMOJI = (
    rf"{_EMOJI_UNIT}(?:\u200d{_EMOJI_UNIT})*\u200d?"
    r"|\p{Regional_Indicator}{2}"
    r"|[0-9#*]\ufe0f?\u20e3"
)

# Order matters where two rules could start at the same character: a keycap must win over the
# digit word, an emoji over nothing else (pictographic characters are not letters).
_TOKEN_RE = regex.compile(
    rf"(?P<emoji>[0-9#*]\ufe0f?\u20e3)"
    rf"|(?P<word>{_WORD})"
    rf"|(?P<ideograph>{_IDEOGRAPH})"
    rf"|(?P<sea>{_SOUTH_EAST_ASIAN})"
    rf"|(?P<emoji2>{_EMOJI})",
    regex.V1,
)


def standard_tokens(text: str) -> list[str]:
    """Split ``text`` into the tokens Lucene's ``StandardTokenizer`` emits, in order.

    Tokens keep their case and characters; filters (possessive, lower-case, stopwords,
    stemming) come after, in :mod:`.search`.
    """
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        token = match.group()
        if len(token) > MAX_TOKEN_LENGTH:
            tokens.extend(token[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH))
        else:
            tokens.append(token)
    return tokens
