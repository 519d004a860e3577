"""The ``List*`` operations' one shape: every record of a kind, narrowed to the parent the request names (a
dataset group, a dataset), as summaries, in the one paging scheme (:func:`tuning.paging.page`)."""

from __future__ import annotations

from ..paging import page


def summary(public: dict, keys: tuple[str, ...]) -> dict:
    """The members of a record's public part that a ``List`` answer carries (those it has)."""
    return {k: public[k] for k in keys if k in public}


def list_records(ctx, request: dict, kind: str, member: str, keys: tuple[str, ...],
                 parent: tuple[str, str] | None = None) -> dict:
    """``parent``: (the member naming the parent, in the request and in each record; the parent's kind). A
    parent that does not exist is ResourceNotFound, as the service answers."""
    records = ctx.store.all(kind)
    if parent is not None and request.get(parent[0]):
        owner = ctx.store.find(parent[1], request[parent[0]]).arn
        records = [r for r in records if r.public.get(parent[0]) == owner]
    return page([summary(r.public, keys) for r in records], request, member)
