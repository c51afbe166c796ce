"""Score many continuations of one prompt in a single llama.cpp pass.

``rank`` decoding needs the log-probability of every valid action after the same prompt.
Scoring them one by one (or walking a token trie with one decode per node) costs one
``llama_decode`` call per token, each with its own thread start-up and synchronisation. Here
the continuations share the prompt's KV cells and go through the model together:

1. the prompt is evaluated once, reusing the longest prefix already in the KV cache (the
   preamble and the exemplars often repeat between decisions);
2. the continuations' tokens are merged into a trie; every trie node becomes one token of a
   single batch, at position ``len(prompt) + depth``, tagged with the sequence ids of all the
   continuations that pass through it (sequence ``0`` holds the prompt; continuation ``i``
   is sequence ``i + 1``, which first gets the prompt's cells by ``llama_memory_seq_cp``), so
   each token attends to the prompt and to its own prefix only;
3. one decode gives the logits of every node; the log-probability of token ``d + 1`` of a
   continuation is read at its depth-``d`` node, token ``0`` at the prompt's last token;
4. the continuation sequences are removed, leaving the cache as it was after the prompt.

More continuations than sequence slots, or more trie nodes than one batch holds, are scored
in several such passes. Runs in the worker process (:mod:`.local_llm`); it needs a context
created with ``n_seq_max`` > 1 and a unified KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _log_softmax_at(logits: np.ndarray, token: int) -> float:
    top = float(logits.max())
    return float(logits[token]) - top - float(np.log(np.exp(logits - top).sum()))


def _logits(low, ctx, index: int, n_vocab: int) -> np.ndarray:
    pointer = low.llama_get_logits_ith(ctx, index)
    return np.ctypeslib.as_array(pointer, shape=(n_vocab,)).astype(np.float64)


def _eval_prompt(llm, prompt_tokens: list[int]) -> None:
    """Evaluate the prompt into sequence 0, reusing the cached prefix; logits of the last token."""
    cached = llm.input_ids[: llm.n_tokens]
    common = 0
    for have, want in zip(cached, prompt_tokens):
        if have != want:
            break
        common += 1
    llm.n_tokens = min(common, len(prompt_tokens) - 1)  # re-evaluate at least one token for fresh logits
    llm.eval(prompt_tokens[llm.n_tokens :])


def _trie(sequences: Sequence[Sequence[int]]) -> tuple[list[tuple[int, int, int]], list[list[int]], list[list[int]]]:
    """Trie nodes for every proper prefix of length ≥ 1.

    Returns ``nodes`` as (token, depth, parent index or -1), each node's member continuation
    indices, and per continuation the node index of each of its prefixes (length 1..L-1).
    """
    index: dict[tuple[int, int], int] = {}
    nodes: list[tuple[int, int, int]] = []
    members: list[list[int]] = []
    paths: list[list[int]] = []
    for which, tokens in enumerate(sequences):
        parent = -1
        path = []
        for depth, token in enumerate(tokens[:-1]):
            key = (parent, token)
            node = index.get(key)
            if node is None:
                node = len(nodes)
                index[key] = node
                nodes.append((token, depth, parent))
                members.append([])
            members[node].append(which)
            path.append(node)
            parent = node
        paths.append(path)
    return nodes, members, paths


def _score_group(llm, low, base: int, first_logits: np.ndarray, group: list[list[int]]) -> list[float]:
    """Total log-probability of each continuation in ``group`` (at most n_seq_max - 1 of them)."""
    n_vocab = llm.n_vocab()
    totals = [_log_softmax_at(first_logits, tokens[0]) for tokens in group]
    nodes, members, paths = _trie(group)
    if not nodes:
        return totals
    ctx = llm._ctx.ctx
    memory = low.llama_get_memory(ctx)
    for seq in range(1, len(group) + 1):
        low.llama_memory_seq_cp(memory, 0, seq, -1, -1)
    batch = low.llama_batch_init(len(nodes), 0, len(group))
    try:
        for i, ((token, depth, _), who) in enumerate(zip(nodes, members)):
            batch.token[i] = token
            batch.pos[i] = base + depth
            batch.n_seq_id[i] = len(who)
            for j, member in enumerate(who):
                batch.seq_id[i][j] = member + 1
            batch.logits[i] = 1
        batch.n_tokens = len(nodes)
        status = low.llama_decode(ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status} while scoring {len(group)} actions")
        cache: dict[int, np.ndarray] = {}
        for which, (tokens, path) in enumerate(zip(group, paths)):
            for depth, node in enumerate(path):
                if node not in cache:
                    cache[node] = _logits(low, ctx, node, n_vocab)
                totals[which] += _log_softmax_at(cache[node], tokens[depth + 1])
    finally:
        low.llama_batch_free(batch)
        for seq in range(1, len(group) + 1):
            low.llama_memory_seq_rm(memory, seq, -1, -1)
    return totals


def score_continuations(llm, low, prompt: str, continuations: Sequence[str], max_sequences: int) -> list[float]:
    """Mean log-probability per token of each continuation after ``prompt``.

    Raises ValueError when the prompt and the continuations do not fit the context window.
    """
    prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    sequences = [llm.tokenize(c.encode("utf-8"), add_bos=False, special=False) or [0] for c in continuations]
    slots = max(1, max_sequences - 1)
    per_pass = max(1, min(slots, llm.n_batch // max(1, max(len(s) for s in sequences))))
    worst = sum(len(s) for s in sequences[:per_pass])
    if len(prompt_tokens) + worst >= llm.n_ctx():
        raise ValueError(f"prompt of {len(prompt_tokens)} tokens leaves no room to score actions (n_ctx {llm.n_ctx()})")
    _eval_prompt(llm, prompt_tokens)
    base = llm.n_tokens
    n_vocab = llm.n_vocab()
    first = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).astype(np.float64)
    totals: list[float] = []
    for start in range(0, len(sequences), per_pass):
        totals += _score_group(llm, low, base, first, [list(s) for s in sequences[start : start + per_pass]])
    return [total / len(tokens) for total, tokens in zip(totals, sequences)]


def score_sequentially(llm, prompt: str, continuations: Sequence[str]) -> list[float]:
    """The reference: each continuation evaluated on its own after the prompt (slow; for tests)."""
    prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    n_vocab = llm.n_vocab()
    results = []
    for text in continuations:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False) or [0]
        llm.reset()
        llm.eval(prompt_tokens)
        total = 0.0
        for token in tokens:
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).astype(np.float64)
            total += _log_softmax_at(logits, token)
            llm.eval([token])
        results.append(total / len(tokens))
    llm.reset()
    return results


__all__ = ["score_continuations", "score_sequentially"]
