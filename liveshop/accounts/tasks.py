from celery import shared_task

from . import services


@shared_task(name="accounts.purge_expired_tokens", acks_late=True)
def purge_expired_tokens() -> int:
    return services.tokens_purge_expired()
