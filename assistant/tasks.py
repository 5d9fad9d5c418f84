"""Assistant tasks. They take ids (and the question's text, which lives only in the room's
event stream), are idempotent and `acks_late`, and enter tenant scope themselves."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="assistant.answer_question", acks_late=True, ignore_result=True)
def answer_question_task(
    *,
    merchant_id: int,
    room_id: int,
    seq: int,
    text: str,
    user_id: int | None = None,
    user_name: str = "",
    asked_at: float | None = None,
) -> int | None:
    """Answer one chat question and publish `assistant.answer`. Idempotent by (room, seq)."""
    from .services import question_answer

    question = question_answer(
        merchant_id=merchant_id,
        room_id=room_id,
        seq=seq,
        text=text,
        user_id=user_id,
        user_name=user_name,
        asked_at=asked_at,
    )
    return question.pk if question is not None else None


@shared_task(name="assistant.virtual_hosts_advance", acks_late=True, ignore_result=True)
def virtual_hosts_advance() -> int:
    """Periodic: move every running virtual host to its next timeline entry when due."""
    from .virtual_host import shows_advance

    return shows_advance()
