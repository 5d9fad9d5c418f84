"""Optional providers: embeddings (recall for typos) and LLM phrasing (guarded, with the
extractive answer as fallback). The phrasing endpoint is a real HTTP server on loopback
speaking the OpenAI chat-completions protocol, so the client's HTTP, timeout and error
handling run for real; nothing is downloaded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from assistant import (
    AssistantSettings,
    CatalogSnapshot,
    HashingEmbeddings,
    OpenAICompatiblePhraser,
    RoomContext,
    SentenceTransformerEmbeddings,
    embeddings_from_env,
    phraser_from_env,
)
from assistant.engine.answer import Fact
from assistant.engine.providers import (
    EmbeddingProvider,
    PhrasingError,
    PhrasingProvider,
    ProviderUnavailable,
    cosine,
    guard_phrased,
)

from .conftest import ask


class TestHashingEmbeddings:
    def test_deterministic_and_normalised(self) -> None:
        emb = HashingEmbeddings(dim=64)
        (a,), (b,) = emb.embed(["Fleece Hoodie"]), emb.embed(["Fleece Hoodie"])
        assert a == b and abs(sum(x * x for x in a) - 1.0) < 1e-9
        assert isinstance(emb, EmbeddingProvider)

    def test_typos_are_close_and_unrelated_words_are_not(self) -> None:
        emb = HashingEmbeddings()
        hoodie, tee, typo = emb.embed(["Fleece Hoodie", "Classic Cotton Tee", "hoddie"])
        assert cosine(typo, hoodie) > emb.min_similarity > cosine(typo, tee)

    def test_chinese_features(self) -> None:
        emb = HashingEmbeddings()
        a, b, c = emb.embed(["加绒连帽卫衣", "连帽卫衣", "羊绒围巾"])
        assert cosine(a, b) > cosine(a, c)

    def test_dim_is_checked(self) -> None:
        with pytest.raises(ValueError):
            HashingEmbeddings(dim=4)

    def test_engine_uses_embeddings_only_when_configured(self, demo: CatalogSnapshot) -> None:
        room = RoomContext(pinned_product_id="DM-TEE-01")
        plain = ask("how much is the hoddie", demo, room)
        assert plain.handoff is not None  # never guesses the pinned tee for an unknown word
        boosted = ask(
            "how much is the hoddie", demo, room, AssistantSettings(embeddings=HashingEmbeddings())
        )
        assert boosted.product_ids == ("DM-HOOD-02",) and "$49.00" in boosted.text

    def test_embeddings_never_leave_the_merchant(
        self, demo: CatalogSnapshot, rival: CatalogSnapshot
    ) -> None:
        settings = AssistantSettings(embeddings=HashingEmbeddings())
        answer = ask("how much is the insulated botle", demo, None, settings)
        assert not set(answer.product_ids) & {p.id for p in rival.products}


class TestSentenceTransformerEmbeddings:
    def test_missing_package_or_model_is_a_clear_error(self, tmp_path: Any) -> None:
        # Whether or not sentence-transformers is installed, a model directory that does
        # not exist cannot load, and nothing is fetched from the network instead.
        provider = SentenceTransformerEmbeddings(str(tmp_path / "no-such-model"))
        with pytest.raises(ProviderUnavailable):
            provider.embed(["hello"])


class TestFromEnv:
    def test_off_by_default(self) -> None:
        assert embeddings_from_env({}) is None
        assert phraser_from_env({}) is None

    def test_embeddings_choices(self) -> None:
        assert isinstance(
            embeddings_from_env({"LIVESHOP_ASSISTANT_EMBEDDINGS": "hashing"}), HashingEmbeddings
        )
        st = embeddings_from_env({"LIVESHOP_ASSISTANT_EMBEDDINGS": "st:/models/x"})
        assert isinstance(st, SentenceTransformerEmbeddings) and st.model_path == "/models/x"
        with pytest.raises(ValueError, match="LIVESHOP_ASSISTANT_EMBEDDINGS"):
            embeddings_from_env({"LIVESHOP_ASSISTANT_EMBEDDINGS": "gpt"})

    def test_phraser_config(self) -> None:
        env = {
            "LIVESHOP_ASSISTANT_LLM_URL": "http://127.0.0.1:9/v1/",
            "LIVESHOP_ASSISTANT_LLM_MODEL": "m",
            "LIVESHOP_ASSISTANT_LLM_TIMEOUT": "0.5",
        }
        phraser = phraser_from_env(env)
        assert (
            phraser is not None
            and phraser.base_url == "http://127.0.0.1:9/v1"
            and phraser.timeout == 0.5
        )
        with pytest.raises(ValueError, match="MODEL"):
            phraser_from_env({"LIVESHOP_ASSISTANT_LLM_URL": "http://x"})
        with pytest.raises(ValueError, match="TIMEOUT"):
            phraser_from_env({**env, "LIVESHOP_ASSISTANT_LLM_TIMEOUT": "soon"})
        with pytest.raises(ValueError, match="http"):
            OpenAICompatiblePhraser("file:///etc/passwd", "m")


class TestGuard:
    facts = [Fact("name", "Classic Cotton Tee"), Fact("price", "$19.00")]

    def test_accepts_same_numbers(self) -> None:
        assert (
            guard_phrased(
                "The tee is just $19!",
                draft="Classic Cotton Tee: $19.00.",
                facts=self.facts,
                lang="en",
            )
            is None
        )

    @pytest.mark.parametrize(
        ("text", "why"),
        [
            ("Only $15 today!", "invented_number"),
            ("$19.00, 2 left", "invented_number"),
            ("", "empty"),
            ("x" * 2000, "too_long"),
            ("经典T恤，$19.00", "wrong_language"),
            ("See http://evil.example/ $19", "link"),
        ],
    )
    def test_rejects(self, text: str, why: str) -> None:
        assert (
            guard_phrased(text, draft="Classic Cotton Tee: $19.00.", facts=self.facts, lang="en")
            == why
        )

    def test_chinese_answer_must_be_chinese(self) -> None:
        assert (
            guard_phrased("Tee $19", draft="T恤售价$19.00。", facts=self.facts, lang="zh")
            == "wrong_language"
        )


# --- a real OpenAI-compatible endpoint on loopback -------------------------------------
class _ChatServer:
    def __init__(self) -> None:
        self.reply: str = ""
        self.status = 200
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                server.requests.append(
                    {
                        "path": self.path,
                        "auth": self.headers.get("Authorization"),
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                time.sleep(server.delay)
                body = json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": server.reply}}]}
                ).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat() -> Iterator[_ChatServer]:
    server = _ChatServer()
    yield server
    server.close()


class TestPhrasing:
    def phraser(self, chat: _ChatServer, timeout: float = 2.0) -> OpenAICompatiblePhraser:
        return OpenAICompatiblePhraser(chat.url, "tiny", api_key="sk-test", timeout=timeout)

    def test_phrased_answer_is_used_when_it_keeps_the_facts(
        self, chat: _ChatServer, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        chat.reply = "Our Classic Cotton Tee is only $19.00 — grab one!"
        phraser = self.phraser(chat)
        assert isinstance(phraser, PhrasingProvider)
        answer = ask("how much?", demo, tee_room, AssistantSettings(phraser=phraser))
        assert answer.text == chat.reply and answer.phrased_by == "llm:tiny"
        (request,) = chat.requests
        assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
        assert "Classic Cotton Tee: $19.00." in request["body"]["messages"][1]["content"]
        assert "English" in request["body"]["messages"][0]["content"]

    def test_invented_number_falls_back_to_extractive(
        self, chat: _ChatServer, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        chat.reply = "The tee is $15 today only!"
        answer = ask("how much?", demo, tee_room, AssistantSettings(phraser=self.phraser(chat)))
        assert answer.text == "Classic Cotton Tee: $19.00." and answer.phrased_by == "extractive"

    def test_server_error_falls_back(
        self, chat: _ChatServer, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        chat.status, chat.reply = 500, "boom"
        answer = ask("多少钱", demo, tee_room, AssistantSettings(phraser=self.phraser(chat)))
        assert answer.text == "经典纯棉T恤售价$19.00。"

    def test_timeout_falls_back_within_the_deadline(
        self, chat: _ChatServer, demo: CatalogSnapshot, tee_room: RoomContext
    ) -> None:
        chat.delay, chat.reply = 1.5, "Classic Cotton Tee: $19.00!"
        settings = AssistantSettings(phraser=self.phraser(chat, timeout=0.2))
        started = time.perf_counter()
        answer = ask("how much?", demo, tee_room, settings)
        assert time.perf_counter() - started < 1.0
        assert answer.phrased_by == "extractive"

    def test_unreachable_endpoint_raises_phrasing_error(self) -> None:
        phraser = OpenAICompatiblePhraser("http://127.0.0.1:9", "m", timeout=0.5)
        with pytest.raises(PhrasingError):
            phraser.phrase(question="q", draft="d", lang="en")

    def test_handoffs_are_never_phrased(self, chat: _ChatServer, demo: CatalogSnapshot) -> None:
        chat.reply = "Your order ships tomorrow!"
        answer = ask(
            "where is my order?", demo, None, AssistantSettings(phraser=self.phraser(chat))
        )
        assert answer.handoff is not None and chat.requests == []
