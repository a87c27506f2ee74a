"""Fast multi-row INSERT for the import path.

`conn.execute(table.insert(), rows)` spends more time building per-row parameters in SQLAlchemy than the
database spends inserting them (measured on the dev set: about 1.0 s of Python against 0.5 s in SQLite). Here
the statement is compiled once per table and dialect, values get the same conversions SQLAlchemy's bind
processors would apply (JSON as text, SQLite datetimes in SQLAlchemy's storage format), and the driver's
executemany does the rest. Rows read back through SQLAlchemy are identical; the store tests check it on both
back ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

Convert = Callable[[Any], Any]


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format; values here are always UTC.
    if value is None:
        return None
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def _converter(column: sa.Column[Any], dialect: str) -> Convert | None:
    if isinstance(column.type, sa.JSON):
        return _json_text
    if isinstance(column.type, sa.DateTime) and dialect == "sqlite":
        return _sqlite_datetime
    return None


_compiled: dict[tuple[str, str, tuple[str, ...]], tuple[str, tuple[str, ...] | None, list[Convert | None]]] = {}


def insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` (dicts with the same keys) into `table` in one executemany."""
    if not rows:
        return
    keys = tuple(rows[0])
    dialect = conn.dialect.name
    cache_key = (table.name, dialect, keys)
    if cache_key not in _compiled:
        compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup) if compiled.positiontup else None
        converters = [_converter(table.c[key], dialect) for key in (order or keys)]
        _compiled[cache_key] = (str(compiled), order, converters)
    sql, order, converters = _compiled[cache_key]
    names = order or keys
    converted = [
        [convert(row[name]) if convert else row[name] for name, convert in zip(names, converters, strict=True)]
        for row in rows
    ]
    parameters: list[Any] = (
        [tuple(values) for values in converted]
        if order
        else [dict(zip(names, values, strict=True)) for values in converted]
    )
    conn.exec_driver_sql(sql, parameters)
