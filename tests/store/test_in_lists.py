"""`column IN (values)` on both back ends: the same answers for every list (one value, hundreds, none, a statement
compiled once and run again with other values); on PostgreSQL as one array parameter, so the statement's text
does not change with the list's length and the driver can prepare it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from clearinghouse.store.db import create_engine

_rows = sa.MetaData()
_items = sa.Table("in_list_items", _rows, sa.Column("id", sa.String(20), primary_key=True), sa.Column("n", sa.Integer))


@pytest.fixture
def items(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    _rows.create_all(engine)
    with engine.begin() as conn:
        conn.execute(_items.insert(), [{"id": f"item-{n:03d}", "n": n} for n in range(400)])
    yield engine
    _rows.drop_all(engine)
    engine.dispose()


def test_in_answers_the_same_for_every_list_and_one_statement_serves_them_all(items: sa.Engine) -> None:
    sent: list[str] = []
    sa.event.listen(items, "before_cursor_execute", lambda _c, _k, statement, *_: sent.append(statement))
    by_id = sa.select(_items.c.n).order_by(_items.c.n)
    named = sa.select(_items.c.n).where(_items.c.id.in_(sa.bindparam("ids", expanding=True))).order_by(_items.c.n)
    with items.connect() as conn:
        for wanted in ([5], [3, 1, 2], list(range(0, 400, 2)), [], [7, 10_000]):
            ids = [f"item-{n:03d}" for n in wanted]
            expected = sorted(n for n in wanted if n < 400)
            # A literal list: each statement carries its own values into the cached compilation.
            assert conn.execute(by_id.where(_items.c.id.in_(ids))).scalars().all() == expected
            assert conn.execute(named, {"ids": ids}).scalars().all() == expected
            assert conn.execute(by_id.where(_items.c.n.in_(wanted))).scalars().all() == expected
        assert conn.execute(by_id.where(_items.c.n.not_in([1, 2]), _items.c.n < 4)).scalars().all() == [0, 3]
        pairs = sa.tuple_(_items.c.id, _items.c.n).in_([("item-001", 1), ("item-002", 3)])
        assert conn.execute(by_id.where(pairs)).scalars().all() == [1]
    if items.dialect.name == "postgresql":
        in_lists = [statement for statement in sent if "ANY" in statement or " IN " in statement]
        # One text for each of the three IN statements above, whatever the length of the list.
        assert len(set(in_lists[:15])) == 3
