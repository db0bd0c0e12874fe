"""What one flow costs, counted rather than timed: Temporal actions and tasks from workflow histories,
rows and bytes from the store. Counts are deterministic, so a busy machine does not move them.

Billable actions follow Temporal Cloud's definition (docs.temporal.io/cloud/actions, read 2026-12):
a workflow start (client, continue-as-new, child), every activity start or retry, all local
activities of one workflow task as one action, every timer, every `UpsertSearchAttributes` command
(search attributes given at start and `TemporalChangeVersion` alone are free), every signal, every
accepted update (update-with-start counts the update on top of the start), a child workflow as two,
every workflow-options update. Queries, activity heartbeats and rejected updates are billed too but
leave no event in the history: payflow's flows send none of them (the API answers reads from the
store), so the count from histories is the whole bill for these flows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench.history import LOCAL_ACTIVITY_MARKER

E = EventType
CHANGE_VERSION = "TemporalChangeVersion"
ONE_ACTION = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    E.EVENT_TYPE_TIMER_STARTED: "timers",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signals",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED: "options_updated",
}


def actions(events: Sequence[HistoryEvent]) -> Counter[str]:
    """Billable actions of one history, by kind (the module docstring says which and why)."""
    found = Counter[str]()
    local_batches: set[int] = set()
    for e in events:
        if e.event_type in ONE_ACTION:
            found[ONE_ACTION[e.event_type]] += 1
        elif e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            found["activity_attempts"] += max(1, e.activity_task_started_event_attributes.attempt)
        elif e.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            found["search_attribute_upserts"] += bool(set(fields) - {CHANGE_VERSION})
        elif e.event_type == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            found["child_workflows"] += 2
        elif (
            e.event_type == E.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
        ):
            local_batches.add(e.marker_recorded_event_attributes.workflow_task_completed_event_id)
    found["local_activity_batches"] = len(local_batches)
    return found


def history_cost(events: Sequence[HistoryEvent]) -> dict[str, int]:
    """One history: events, their encoded bytes, workflow tasks, activity executions (regular, with
    retries, and local), and billable actions (total and by kind)."""
    kinds = Counter(e.event_type for e in events)
    billed = actions(events)
    local = sum(
        1
        for e in events
        if e.event_type == E.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )
    return {
        "events": len(events),
        "history_bytes": sum(e.ByteSize() for e in events),
        "workflow_tasks": kinds[E.EVENT_TYPE_WORKFLOW_TASK_STARTED],
        "activities": kinds[E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        "activity_attempts": billed["activity_attempts"],
        "local_activities": local,
        "actions": sum(billed.values()),
        **{f"actions.{k}": v for k, v in sorted(billed.items())},
    }


PG_TUPLE_BYTES = """
select coalesce(sum((pgstattuple(c.oid)).tuple_len), 0) from pg_class c
where c.oid = cast(:t as regclass)
   or c.oid = (select reltoastrelid from pg_class where oid = cast(:t as regclass))
   or c.oid in (select indexrelid from pg_index where indrelid = cast(:t as regclass))
"""


async def store_usage(db: AsyncEngine) -> dict[str, dict[str, int]]:
    """Rows and bytes of every table of payflow's store, indexes included in the bytes.

    The bytes are what the records take, not whole pages, so a few flows give a steady per-flow
    figure: SQLite, `dbstat`'s payload of the table's b-tree and its indexes; PostgreSQL, the live
    tuples (`pgstattuple`'s tuple_len, headers included) of the table, its TOAST table and its
    indexes. Page headers, line pointers and free space come on top (PostgreSQL also reports
    `disk_bytes`, `pg_total_relation_size`, which grows by whole 8 KB pages)."""
    async with db.connect() as c:
        if c.dialect.name == "sqlite":
            sql = "select name, tbl_name from sqlite_master where type in ('table', 'index')"
            owner = dict((await c.execute(text(sql))).tuples().all())
            tables = sorted({t for t in owner.values() if not t.startswith("sqlite_")})
            payload = Counter[str]()
            for name, size in await c.execute(text("select name, sum(payload) from dbstat group by name")):
                payload[owner.get(name, name)] += int(size or 0)
            sizes = {t: {"bytes": payload[t]} for t in tables}
        else:
            await c.execute(text("create extension if not exists pgstattuple"))
            sql = "select tablename from pg_tables where schemaname = 'public' order by tablename"
            tables = list((await c.execute(text(sql))).scalars())
            sizes = {}
            for t in tables:
                disk = f"select pg_total_relation_size('\"{t}\"')"
                sizes[t] = {
                    "bytes": int((await c.execute(text(PG_TUPLE_BYTES), {"t": f'"{t}"'})).scalar() or 0),
                    "disk_bytes": int((await c.execute(text(disk))).scalar() or 0),
                }
            await c.commit()
        for t in tables:
            sizes[t]["rows"] = int((await c.execute(text(f'select count(*) from "{t}"'))).scalar() or 0)
    return sizes


def usage_delta(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """What was written between two `store_usage` readings, tables that changed only."""
    delta = {}
    for table, now in after.items():
        was = before.get(table, {})
        change = {k: v - was.get(k, 0) for k, v in now.items()}
        if any(change.values()):
            delta[table] = change
    return delta
