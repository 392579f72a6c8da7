"""The exchange plan: 1C's own change feed, with exactly the semantics observed on live bases.

- One registration row per node + object: a reader gets the object's current state, not each version.
- ``SelectChanges(node, N)`` takes the node's rows not yet numbered or numbered ≤ N and stamps them N;
  repeating the same N returns those plus anything registered since.
- ``NotifyChangesReceived(node, N)`` deletes the rows numbered ≤ N. An object rewritten after it was
  read is reset to "not numbered", so it survives the acknowledgment and comes in the next read.
- Objects in the plan but not published in OData (``unpublished`` in the configuration) are silently
  skipped by ``SelectChanges``: never numbered, so they stay queued through acknowledgments.
- Every write registers the object for every node except this base's own node and the node whose
  credentials made the write (1C's ``DataExchange.Sender``), so the middleware gets no echo.

Registration happens in the writing transaction through the store's ``on_change`` hook.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, delete, insert, null, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .schema import Config, ExchangePlan, Node
from .store import Change, Store, Tx, registrations

# Run on every write of an object in the plan: built once (building costs more than running it).
_RESET = (
    update(registrations)
    .where(
        and_(
            registrations.c.node == bindparam("w_node"),
            registrations.c.entity_set == bindparam("w_set"),
            registrations.c.key == bindparam("w_key"),
        )
    )
    .values(message_no=null())
)
_REGISTER = insert(registrations).values(
    node=bindparam("node"), entity_set=bindparam("entity_set"), key=bindparam("key")
)
# SQLite (the store's direct path): register or reset in one statement; the row keeps its place.
_UPSERT = (
    sqlite_insert(registrations)
    .values(node=bindparam("node"), entity_set=bindparam("entity_set"), key=bindparam("key"))
    .on_conflict_do_update(
        index_elements=[registrations.c.node, registrations.c.entity_set, registrations.c.key],
        set_={"message_no": null()},
    )
)


@dataclass(frozen=True)
class Registration:
    entity_set: str
    key: str
    message_no: int | None


class ExchangeService:
    def __init__(self, store: Store, config: Config) -> None:
        self.config = config
        self.plan: ExchangePlan | None = config.exchange_plan
        #: False emulates an uncustomized base (``--echo-suppression off``): nobody's writes are
        #: marked as coming from a node, so the website user's own writes are registered back to
        #: its node and come back in SelectChanges (and on AMQP without a sender).
        self.echo_suppression = True
        store.on_change(self._register)

    def node(self, ref: str) -> Node | None:
        return next((n for n in self.plan.nodes if n.ref == ref), None) if self.plan else None

    def node_of_user(self, user: str) -> str | None:
        """The node whose changes a user's writes are (their echo is not registered back to it)."""
        account = next((u for u in self.config.users if u.name == user), None)
        if not self.echo_suppression or self.plan is None or account is None or account.node is None:
            return None
        node = self.plan.node_by_code(account.node)
        return node.ref if node else None

    def ensure_nodes(self, tx: Tx) -> None:
        """Create the plan's node objects (fixed Ref_Keys from the configuration) if missing."""
        if self.plan is None:
            return
        for node in self.plan.nodes:
            if tx.get(self.plan.name, node.ref) is None:
                doc = {
                    "Ref_Key": node.ref,
                    "DeletionMark": False,
                    "Code": node.code,
                    "Description": node.description,
                    "SentNo": 0,
                    "ReceivedNo": 0,
                    "ThisNode": node.this_node,
                }
                tx.insert(self.plan.name, doc, notify=False)

    def _register(self, tx: Tx, change: Change) -> None:
        if self.plan is None or change.entity_set not in self.plan.content:
            return
        for node in self.plan.nodes:
            if node.this_node or node.ref == change.origin_node:
                continue
            if tx.direct:
                tx.run(_UPSERT, {"node": node.ref, "entity_set": change.entity_set, "key": change.key})
                continue
            key = {"w_node": node.ref, "w_set": change.entity_set, "w_key": change.key}
            if not tx.run(_RESET, key):
                tx.run(_REGISTER, {"node": node.ref, "entity_set": change.entity_set, "key": change.key})

    def select_changes(self, tx: Tx, node_ref: str, message_no: int) -> list[Registration]:
        """Stamp the node's unnumbered or ≤ N registrations with N and return them (in registration
        order); also records N as the node's ``SentNo``. Unpublished sets are neither returned nor stamped."""
        assert self.plan is not None
        pending = or_(registrations.c.message_no.is_(None), registrations.c.message_no <= message_no)
        published = registrations.c.entity_set.not_in(self.plan.unpublished)
        tx.conn.execute(
            update(registrations)
            .where(registrations.c.node == node_ref, pending, published)
            .values(message_no=message_no)
        )
        rows = tx.conn.execute(
            select(registrations.c.entity_set, registrations.c.key, registrations.c.message_no)
            .where(registrations.c.node == node_ref, registrations.c.message_no == message_no)
            .order_by(registrations.c.id)
        )
        out = [Registration(r.entity_set, r.key, r.message_no) for r in rows]
        node_doc = tx.get(self.plan.name, node_ref)
        if node_doc is not None:
            tx.replace(self.plan.name, {**node_doc, "SentNo": message_no}, notify=False)
        return out

    def notify_received(self, tx: Tx, node_ref: str, message_no: int) -> int:
        """Delete the node's registrations numbered ≤ N; unnumbered (rewritten) ones survive."""
        result = tx.conn.execute(
            delete(registrations).where(
                registrations.c.node == node_ref,
                registrations.c.message_no.is_not(None),
                registrations.c.message_no <= message_no,
            )
        )
        return int(result.rowcount)

    def pending(self, tx: Tx, node_ref: str) -> list[Registration]:
        rows = tx.conn.execute(
            select(registrations.c.entity_set, registrations.c.key, registrations.c.message_no)
            .where(registrations.c.node == node_ref)
            .order_by(registrations.c.id)
        )
        return [Registration(r.entity_set, r.key, r.message_no) for r in rows]
