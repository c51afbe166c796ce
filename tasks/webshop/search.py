"""Lucene-style BM25 over the 1000-product catalog, in Python with numpy.

Upstream WebShop searches a pyserini/Anserini Lucene index (``indexes_1k``). Running that
needs Java and a 137 MB jar, so this module re-implements the parts that decide the ranking:

* **Analyzer** (Anserini's default English analyzer): a tokenizer close to Lucene's
  ``StandardTokenizer`` (Unicode UAX#29 word breaks), the English possessive filter
  (``women's`` -> ``women``), lower-casing, Lucene's 33 English stopwords, and the Porter
  stemmer (Lucene's ``PorterStemFilter`` is Martin Porter's own implementation; NLTK's
  ``MARTIN_EXTENSIONS`` mode is the same algorithm, see ``README.md`` for the measurement).
* **Similarity**: Lucene 9 ``BM25Similarity(k1=0.9, b=0.4)`` including its lossy one-byte
  document-length encoding (``SmallFloat.intToByte4``) and its float32 arithmetic, so that
  exact ties in Lucene are exact ties here too.
* **Query**: Anserini's bag-of-words query: each distinct analysed term once, boosted by how
  often it occurs in the query; scores summed.

Results are ordered as Anserini orders them: scores rounded to four decimals, ties by ASIN.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import regex

from ..base import TaskError
from .tokenizer import _EXT_PICT, standard_tokens

K1 = 0.9
B = 0.4
TOP_N = 50
"""Upstream ``SEARCH_RETURN_N``."""
MAX_CLAUSE_COUNT = 1024
"""Lucene's ``IndexSearcher.getMaxClauseCount()`` default: a query with more distinct terms fails."""


class TooManyClauses(TaskError):
    """The query has more distinct analysed terms than Lucene accepts (``TooManyClauses``).

    Upstream WebShop would crash on such a query (pyserini re-raises the Java exception);
    here the search raises this error and the environment turns it into an invalid-action
    message, leaving the page unchanged.
    """

    def __init__(self, n_terms: int) -> None:
        super().__init__(
            f"the query has {n_terms} distinct terms; Lucene accepts at most {MAX_CLAUSE_COUNT}"
        )
        self.n_terms = n_terms

LUCENE_ENGLISH_STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their
    then there these they this to was will with""".split()
)
"""``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (33 words); Anserini removes them at index time."""

_EMOJI_TOKEN_RE = regex.compile(r"^(?:" + _EXT_PICT + r"|\p{Emoji_Modifier}|\p{Regional_Indicator}|[0-9#*]\ufe0f?\u20e3)")


def _possessive(token: str) -> str:
    """Lucene's ``EnglishPossessiveFilter``: drop a trailing ``'s`` (any apostrophe form)."""
    if len(token) >= 2 and token[-1] in "sS" and token[-2] in "'\u2019\uff07":
        return token[:-2]
    return token


def tokenize(text: str, *, emoji: bool = True) -> list[str]:
    """Split ``text`` into ``StandardTokenizer`` tokens (not yet lower-cased or filtered).

    See :mod:`.tokenizer` for the rules. ``emoji=False`` drops the emoji tokens (Lucene < 7
    behaviour; kept for the measurement in ``README.md``).
    """
    tokens = standard_tokens(text)
    if not emoji:
        tokens = [t for t in tokens if not _EMOJI_TOKEN_RE.match(t)]
    return tokens


def _make_stemmer(kind: str) -> Callable[[str], str]:
    """Return a word -> stem function; imports the optional stemmer package lazily."""
    if kind in ("nltk-martin", "nltk-original"):
        try:
            from nltk.stem.porter import PorterStemmer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise TaskError(
                "the WebShop search needs nltk's Porter stemmer: pip install 'nltk>=3.9,<4'"
            ) from exc
        mode = PorterStemmer.MARTIN_EXTENSIONS if kind == "nltk-martin" else PorterStemmer.ORIGINAL_ALGORITHM
        stemmer = PorterStemmer(mode=mode)

        def stem(word: str) -> str:
            # Porter's reference implementation (and Lucene's port) leaves words of one or two
            # letters alone; NLTK's strict modes would turn "us" into "u".
            if len(word) <= 2:
                return word
            return stemmer.stem(word, to_lowercase=False)

        return stem
    if kind in ("pystemmer-porter", "pystemmer-english"):
        try:
            import Stemmer  # PyStemmer
        except ImportError as exc:  # pragma: no cover
            raise TaskError("this stemmer choice needs PyStemmer: pip install 'PyStemmer>=2.2,<4'") from exc
        algo = Stemmer.Stemmer("porter" if kind == "pystemmer-porter" else "english")
        return lambda word: word if len(word) <= 2 else algo.stemWord(word)
    raise TaskError(f"unknown stemmer {kind!r}")


class Analyzer:
    """Text -> index terms, the way Anserini's ``DefaultEnglishAnalyzer`` does it.

    Stems are memoised per surface token: the catalog has ~30k distinct tokens and queries
    reuse them, so a pure-Python stemmer costs nothing after warm-up.
    """

    def __init__(self, stemmer: str = "nltk-martin", *, emoji: bool = True) -> None:
        self._stem = _make_stemmer(stemmer)
        self._emoji = emoji
        self._cache: dict[str, str | None] = {}
        self.stemmer = stemmer

    def _term(self, token: str) -> str | None:
        cached = self._cache.get(token, "")
        if cached != "":
            return cached
        word = _possessive(token).lower()
        term = None if (not word or word in LUCENE_ENGLISH_STOPWORDS) else self._stem(word)
        self._cache[token] = term
        return term

    def __call__(self, text: str) -> list[str]:
        terms = []
        for token in tokenize(text, emoji=self._emoji):
            term = self._term(token)
            if term is not None:
                terms.append(term)
        return terms


def _int_to_byte4(value: int) -> int:
    """Lucene ``SmallFloat.intToByte4``: the one-byte norm a document length is stored as."""
    free = 24  # NUM_FREE_VALUES = 255 - longToInt4(Integer.MAX_VALUE)
    if value < free:
        return value
    rest = value - free
    bits = rest.bit_length()
    if bits < 4:
        encoded = rest
    else:
        shift = bits - 4
        encoded = ((rest >> shift) & 0x07) | ((shift + 1) << 3)
    return free + encoded


def _byte4_to_int(byte: int) -> int:
    """Lucene ``SmallFloat.byte4ToInt``: the (rounded-down) length BM25 actually sees."""
    free = 24
    if byte < free:
        return byte
    i = byte - free
    bits = i & 0x07
    shift = (i >> 3) - 1
    return free + (bits if shift == -1 else (bits | 0x08) << shift)


def quantized_length(length: int) -> int:
    """Document length after Lucene's lossy norm encoding (exact below 24 terms)."""
    return _byte4_to_int(_int_to_byte4(length))


@dataclass(frozen=True)
class Hit:
    doc: int
    """Position of the product in catalog order."""
    asin: str
    score: float


class BM25Index:
    """An in-memory inverted index with Lucene 9's BM25 scoring.

    Per term it keeps the matching document positions and term frequencies as numpy arrays;
    a query touches only its own terms' postings, which keeps a search over 1000 documents
    well under a millisecond.
    """

    def __init__(
        self,
        doc_ids: Sequence[str],
        texts: Iterable[str],
        *,
        analyzer: Analyzer | None = None,
        k1: float = K1,
        b: float = B,
    ) -> None:
        self.analyzer = analyzer or Analyzer()
        self.doc_ids = list(doc_ids)
        n_docs = len(self.doc_ids)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        doc_lengths: list[int] = []
        for doc, text in enumerate(texts):
            counts = Counter(self.analyzer(text))
            doc_lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(doc)
                tfs.append(tf)
        if len(doc_lengths) != n_docs or n_docs == 0:
            raise TaskError(f"BM25Index: {len(doc_lengths)} texts for {n_docs} document ids")
        lengths = np.asarray(doc_lengths, dtype=np.int64)
        self.n_docs = n_docs
        f32 = np.float32
        avgdl = f32(float(lengths.sum()) / n_docs)
        k1_, b_ = f32(k1), f32(b)
        qlen = np.array([quantized_length(int(x)) for x in lengths], dtype=f32)
        # BM25Similarity's per-norm cache: 1 / (k1 * ((1 - b) + b * dl / avgdl)), in float32.
        self._norm_inverse = (f32(1.0) / (k1_ * ((f32(1.0) - b_) + b_ * qlen / avgdl))).astype(f32)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray, np.float32]] = {}
        for term, (docs, tfs) in postings.items():
            df = len(docs)
            idf = f32(np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)))
            doc_arr = np.asarray(docs, dtype=np.int64)
            # freq * normInverse, as Lucene multiplies them (float32).
            tf_norm = (np.asarray(tfs, dtype=f32) * self._norm_inverse[doc_arr]).astype(f32)
            self._postings[term] = (doc_arr, tf_norm, idf)
        self.avgdl = float(avgdl)
        # position of each document in ASIN order (Anserini's tie-break)
        self._asin_rank = np.empty(n_docs, dtype=np.int64)
        self._asin_rank[np.argsort(np.asarray(self.doc_ids), kind="stable")] = np.arange(n_docs)
        self.lengths = lengths

    def vocabulary_size(self) -> int:
        return len(self._postings)

    def scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (float32 scores, matched mask) over all documents for ``query``.

        Raises :class:`TooManyClauses` when the query has more than 1,024 distinct terms, as
        Lucene does (every distinct term is one clause, whether the index knows it or not).
        """
        terms = Counter(self.analyzer(query))
        if len(terms) > MAX_CLAUSE_COUNT:
            raise TooManyClauses(len(terms))
        acc = np.zeros(self.n_docs, dtype=np.float64)
        matched = np.zeros(self.n_docs, dtype=bool)
        for term, boost in terms.items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            docs, tf_norm, idf = posting
            weight = np.float32(boost) * idf
            part = weight - weight / (np.float32(1.0) + tf_norm)
            acc[docs] += part
            matched[docs] = True
        return acc.astype(np.float32), matched

    def search(self, query: str, k: int = TOP_N) -> list[Hit]:
        """Top ``k`` documents for ``query``, in the order Anserini returns them.

        Anserini's ``TiebreakerReranker`` rounds every score to four decimals (Java
        ``Math.round(score * 10000) / 10000``) and orders equal rounded scores by the collection
        docid (the ASIN) ascending, so ties do not depend on Lucene's internal document ids.
        ``Hit.score`` is the unrounded float32 BM25 score.
        """
        scores, matched = self.scores(query)
        candidates = np.flatnonzero(matched)
        if candidates.size == 0:
            return []
        cand_scores = scores[candidates]
        rounded = np.floor(cand_scores * np.float32(10000.0) + np.float32(0.5)).astype(np.int64)
        # lexsort: last key is primary. Sort by -rounded score, then by ASIN.
        order = np.lexsort((self._asin_rank[candidates], -rounded))[:k]
        top = candidates[order]
        return [Hit(int(d), self.doc_ids[int(d)], float(scores[d])) for d in top]


def normalize_query(keywords: str) -> str:
    """Upstream turns the action argument into ``keywords.split(' ')`` and joins it back."""
    return " ".join(keywords.lower().split(" "))

