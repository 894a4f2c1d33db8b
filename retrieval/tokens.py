"""Token counts as the embedder's own tokenizer splits a text: the unit the embeddings cap is in.

Only the tokenizer files are loaded (no weights), so the count matches what the model would read
whichever backend runs it; the model itself reads at most its max_seq_length tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.embedder import resolve_model

if TYPE_CHECKING:
    from tokenizers import Tokenizer


class TokenCounter:
    """Counts tokens per text with the tokenizer of embedder *model* ("package:...", a path or a name)."""

    def __init__(self, model: str) -> None:
        self._tokenizer = fast_tokenizer(resolve_model(model))

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens included, never truncated."""
        return [len(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=True)]


def fast_tokenizer(name_or_folder: str) -> Tokenizer:
    """The model's Rust tokenizer, neither truncating nor padding.

    Read from the folder's tokenizer.json when it has one, so the serving process never imports
    transformers (whose import loads torch: ~300 MiB the onnx backend does without).
    """
    from tokenizers import Tokenizer

    path = Path(name_or_folder) / "tokenizer.json"
    if path.is_file():
        tokenizer = Tokenizer.from_file(str(path))
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(name_or_folder).backend_tokenizer
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer
