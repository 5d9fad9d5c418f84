"""Shopping assistant: answers shoppers' danmaku questions from the merchant's own catalog.

Phase 1 is the pure-Python engine (no Django app yet). Integrators use:

    from assistant import answer_question, detect_question, CatalogSnapshot, RoomContext

See assistant/README.md for the interfaces and the evaluation.
"""

from assistant.engine.answer import Answer, Fact, Handoff, format_money, numbers_in
from assistant.engine.detect import Detection, detect_language, detect_question, question_key
from assistant.engine.engine import AssistantInputError, AssistantSettings, answer_question
from assistant.engine.index import index_cache_clear, index_for
from assistant.engine.providers import (
    EmbeddingProvider,
    HashingEmbeddings,
    OpenAICompatiblePhraser,
    PhrasingProvider,
    SentenceTransformerEmbeddings,
    embeddings_from_env,
    phraser_from_env,
)
from assistant.engine.snapshot import (
    CatalogSnapshot,
    FlashSale,
    PolicyDoc,
    ProductDoc,
    RoomContext,
    VariantDoc,
)

__all__ = [
    "Answer",
    "AssistantInputError",
    "AssistantSettings",
    "CatalogSnapshot",
    "Detection",
    "EmbeddingProvider",
    "Fact",
    "FlashSale",
    "Handoff",
    "HashingEmbeddings",
    "OpenAICompatiblePhraser",
    "PhrasingProvider",
    "PolicyDoc",
    "ProductDoc",
    "RoomContext",
    "SentenceTransformerEmbeddings",
    "VariantDoc",
    "answer_question",
    "detect_language",
    "detect_question",
    "embeddings_from_env",
    "format_money",
    "index_cache_clear",
    "index_for",
    "numbers_in",
    "phraser_from_env",
    "question_key",
]
