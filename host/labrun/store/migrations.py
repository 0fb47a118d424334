"""The run store schema, as the ordered migrations that build it.

The database's `PRAGMA user_version` counts the migrations applied. Append a new migration
for every change, and never edit one that has been released: stores in the field were
built by it.

Times are ISO 8601 text in UTC with microseconds, so they sort as text. JSON columns hold
JSON text.
"""

from __future__ import annotations

# Marks the file as a labrun run store ("LBRN"), so that another application's SQLite
# database is recognised and left alone rather than migrated.
APPLICATION_ID = 0x4C42524E

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: runs and their events.
    (
        f"PRAGMA application_id = {APPLICATION_ID}",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY NOT NULL,
            protocol_name TEXT NOT NULL,
            protocol_source TEXT NOT NULL,
            protocol_snapshot TEXT NOT NULL,
            parameters TEXT NOT NULL,
            started_by TEXT NOT NULL,
            status TEXT NOT NULL,
            created TEXT NOT NULL,
            started TEXT,
            ended TEXT,
            steps TEXT NOT NULL
        )
        """,
        "CREATE INDEX runs_by_created ON runs (created)",
        # Append-only: rows are inserted by the event writer and deleted only with their run.
        """
        CREATE TABLE events (
            run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            step TEXT NOT NULL,
            time TEXT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID
        """,
        # Operator actions and diagnostics are few among a run's events, most of which can
        # be device values: partial indexes find them without scanning the run, and cost
        # nothing on the inserts of other types.
        "CREATE INDEX events_requests ON events (run_id, seq) WHERE type = 'request'",
        "CREATE INDEX events_diagnostics ON events (run_id, seq) WHERE type = 'diagnostic'",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
