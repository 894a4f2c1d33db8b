"""Token counts as the embedder's own tokenizer splits a text: the unit the embeddings cap is in.

Only the tokenizer files are loaded (no weights), so the count matches what the model would read
whichever backend runs it; the model itself reads at most its max_seq_length tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.embedder import resolve_model


class TokenCounter:
    """Counts tokens per text with the tokenizer of embedder *model* ("package:...", a path or a name)."""

    def __init__(self, model: str) -> None:
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(resolve_model(model))

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens included, never truncated."""
        encoded = self._tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]
