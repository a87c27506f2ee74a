"""Engines and schema migration for both back ends."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.sql.compiler import OPERATORS

from clearinghouse.config import Settings
from clearinghouse.errors import ConfigurationError, StoreNotFound
from clearinghouse.files import private_directory, private_file

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration (`migrations/versions`; a test checks this is alembic's head). A store already there
# opens without loading alembic and its migration scripts, a sixth of a CLI command's start-up.
HEAD_REVISION = "0017"


# A PostgreSQL connection back from the pool is pinged first only if it sat there this long: pinging at every
# checkout (`pool_pre_ping`) was a round trip and about 0.2 ms of CPU each, 10 a report batch and one or two a request.
# A connection used moments ago that the server dropped since fails its statement instead; SQLAlchemy then discards
# the whole pool, the worker retries its batch, and the API answers that one request 503 `store-unavailable`
# (`api/problems.py`), to be sent again.
PING_AFTER = 5.0
_CHECKED_IN = "clearinghouse_checked_in"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def in_memory(engine: sa.Engine) -> bool:
    """A private SQLite database: no other connection, process or lock file can reach it."""
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def create_engine(url: str) -> sa.Engine:
    """An engine for a SQLite file (WAL mode, foreign keys on) or a PostgreSQL URL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            database = Path(parsed.database)
            private_directory(database.parent)
            # SQLite creates the WAL and shared-memory files with the database file's mode, so 0600 here is
            # 0600 for all three; an existing store made before this is narrowed too.
            for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
                if path == database or path.exists():
                    private_file(path)
            private_file(Path(f"{database}.write-lock"))  # see sqlite_write_lock
        engine = sa.create_engine(
            url, json_serializer=_json_dumps, json_deserializer=orjson.loads, connect_args={"timeout": 30}
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, json_serializer=_json_dumps, json_deserializer=orjson.loads)
        engine.dialect.statement_compiler = _array_in_compiler(engine.dialect.statement_compiler)
        sa.event.listen(engine.pool, "checkin", _note_checkin)
        sa.event.listen(engine.pool, "checkout", _ping_if_idle)
        return engine
    raise ConfigurationError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///PATH or postgresql+psycopg://..."
    )


def _array_in_compiler(compiler: type[Any]) -> type[Any]:
    """The PostgreSQL dialect's statement compiler, writing `column IN (values)` as `column = ANY(:values)`.

    SQLAlchemy writes a list given to `in_` as one parameter per value, expanded at every execution: that took
    more of the client's CPU than running the query (200 ids: 0.93 ms against 0.32 ms as an array, 30 ids: 0.18
    against 0.11 ms), and a statement whose text changes with the list's length is parsed again every time by the
    driver and the server, never prepared. As an array the statement is the same text whatever the list. The
    answers are the same, an empty list included (= ANY of an empty array is false, as IN of nothing). Lists of
    tuples (`tuple_(...).in_`) and NOT IN are left as SQLAlchemy writes them.
    """

    class ArrayInCompiler(compiler):  # type: ignore[misc]
        def visit_in_op_binary(self, binary: Any, operator: Any, **kw: Any) -> str:
            values = binary.right
            if not (isinstance(values, sa.BindParameter) and values.expanding) or isinstance(binary.left, sa.Tuple):
                return str(self._generate_generic_binary(binary, OPERATORS[operator], **kw))
            # A clone keeps the original in its cloned set, so a cached compilation of this statement still takes
            # the values of each new statement's own parameter.
            array = values._clone()
            array.expanding = False
            array.type = ARRAY(values.type)
            return f"{self.process(binary.left, **kw)} = ANY({self.process(array, **kw)})"

    return ArrayInCompiler


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a connection idle in the pool for more than PING_AFTER; one that fails is replaced (the pool retries the
    checkout with a new connection on `DisconnectionError`)."""
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is not None and time.monotonic() - checked_in > PING_AFTER:  # not new, nor used moments ago
        _ping(dbapi_connection)


def _ping(dbapi_connection: Any) -> None:
    try:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()
    except Exception as exc:  # whatever the driver raises for a dead connection
        raise sa.exc.DisconnectionError(str(exc)) from exc


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the API, queries) run while an import writes; NORMAL sync is safe under WAL.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_LOCKS: dict[int, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_HELD = threading.local()


def _process_lock(engine: sa.Engine) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(id(engine), threading.RLock())


@contextmanager
def sqlite_write_lock(engine: sa.Engine) -> Iterator[None]:
    """Serialise SQLite writers that read before they write: threads of this process, then other processes.

    A blocking `flock` wakes the next writer as soon as the lock is free, where SQLite's busy handler sleeps
    and polls (which showed as long latency tails with several server processes). Re-entrant per thread.
    """
    with _process_lock(engine):
        depth = getattr(_HELD, "depth", 0)
        if depth or in_memory(engine):
            _HELD.depth = depth + 1
            try:
                yield
            finally:
                _HELD.depth = depth
            return
        with Path(f"{engine.url.database}.write-lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            _HELD.depth = 1
            try:
                yield
            finally:
                _HELD.depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def sqlite_immediate(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A SQLite write transaction that takes the write lock at BEGIN, under `sqlite_write_lock`.

    A deferred transaction that reads first fails with SQLITE_BUSY (snapshot) when another process commits
    before its first write; `BEGIN IMMEDIATE` makes it wait its turn instead.
    """
    with sqlite_write_lock(engine), engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


@contextmanager
def serialised_writes(engine: sa.Engine, advisory_key: int) -> Iterator[sa.Connection]:
    """A write transaction that no other one holding the same lock overlaps, on any process.

    For writers that read before they write (extend a chain, keep the newer of two records): PostgreSQL takes a
    transaction-scoped advisory lock on `advisory_key`; SQLite has one writer at a time anyway, and
    `sqlite_immediate` makes the others wait their turn rather than fail.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(advisory_key)))
            yield conn
        return
    with sqlite_immediate(engine) as conn:
        yield conn


def alembic_config(engine: sa.Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("clearinghouse.store") / "migrations"))
    config.attributes["engine"] = engine
    return config


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent)."""
    if revision == "head" and stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def stored_revision(engine: sa.Engine) -> str | None:
    """The migration the store is at; None for a new (or not yet migrated) store."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def open_engine(settings: Settings | None = None, *, create: bool = True) -> sa.Engine:
    """The configured store's engine, migrated to the current schema.

    `create=False` is for commands that only read: a SQLite store that does not exist is refused (naming where it
    was looked for) instead of created empty, which would answer every question with "no record".
    """
    settings = settings or Settings.from_env()
    parsed = make_url(settings.database_url)
    if not create and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(str(parsed.database))
        if not database.is_file():
            in_home = Settings.from_env({"CLEARINGHOUSE_HOME": str(settings.home)}).database_url
            default = settings.database_url == in_home
            where = (
                f"the data directory {settings.home} (CLEARINGHOUSE_HOME, default ./.clearinghouse/ here)"
                if default
                else "the file CLEARINGHOUSE_DATABASE_URL names"
            )
            raise StoreNotFound(
                f"no store at {database}, {where}: run this where the store is, point CLEARINGHOUSE_HOME at it, "
                "or create one with `clearinghouse import` or `clearinghouse demo`"
            )
    engine = create_engine(settings.database_url)
    migrate(engine)
    from clearinghouse.store.audit_keys import use_home  # the audit keys live in this home, outside the database

    use_home(engine, settings.home)
    return engine
