"""Indexed search (issue 10): which columns of a big table are indexed, the search keys
computed in Python (pinyin of names, the one- and two-character grams), the index of each
database, and the rows of a table an index offers for one search term.

A table joins by mixing in ``Searchable`` and declaring ``__search__`` (the indexed
columns) and ``__search_pinyin__`` (the name columns whose pinyin is searchable, ``"person"``
for people's names: the surname is read as a surname). Two kinds of index answer a term:

- three characters or more: a trigram index over the columns and the pinyin keys (SQLite:
  an FTS5 table ``fts_<table>`` with the trigram tokenizer, kept by triggers; PostgreSQL:
  a ``pg_trgm`` GIN index on the columns joined by spaces);
- one or two characters (a surname, a city): the ``search_grams`` column, every character
  and every pair of neighbouring characters of the same text (SQLite: an FTS5 table
  ``fts_<table>_grams``, unicode61 tokenizer; PostgreSQL: a GIN index on its words).

The index only narrows: the view still applies the plain ``LIKE`` clause to the rows it
offers, so the results are exactly those of the plain search (docs/search.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain

from pypinyin import Style
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin
from sqlalchemy import Text, bindparam, cast, column, event, inspect, literal_column, select, table, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, mapped_column

#: readings of characters as surnames where the common reading differs (曾 zēng, not céng)
SURNAMES = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "区": "ou",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "盖": "ge",
    "乐": "yue",
    "覃": "qin",
    "翟": "zhai",
    "缪": "miao",
    "瞿": "qu",
    "种": "chong",
    "重": "chong",
    "秘": "bi",
    "冼": "xian",
    "过": "guo",
    "纪": "ji",
    "繁": "po",
    "折": "she",
    "佴": "nai",
    "藏": "zang",
    "都": "du",
    "六": "lu",
    "薄": "bo",
    "贾": "jia",
    "居": "ju",
    "华": "hua",
    "长": "chang",
    "尉": "wei",
    "车": "che",
    "沈": "shen",
    "宿": "su",
    "卜": "bu",
    "员": "yun",
    "召": "shao",
    "句": "gou",
    "阚": "kan",
}
#: two-character surnames with a reading of their own
COMPOUND_SURNAMES = {
    "万俟": ["mo", "qi"],
    "尉迟": ["yu", "chi"],
    "单于": ["chan", "yu"],
    "长孙": ["zhang", "sun"],
    "澹台": ["tan", "tai"],
}

_HANZI = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_RUNS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[^\u3400-\u9fff\uf900-\ufaff]+")
_NOT_KEY = re.compile(r"[^a-z0-9]")
#: the separator between the values of a row in the indexed text (a term has no spaces)
SEPARATOR = " "


class Searchable:
    """A table with indexed search: the keys filled by the ORM before every flush (and by
    ``rebuild_search_keys`` after bulk inserts); the indexes are built by migration 0009."""

    #: the columns the search indexes cover
    __search__: tuple[str, ...] = ()
    #: name columns searchable by pinyin: column → "company" or "person"
    __search_pinyin__: Mapping[str, str] = {}

    search_pinyin: Mapped[str] = mapped_column(Text, default="", server_default="", deferred=True)
    search_grams: Mapped[str] = mapped_column(Text, default="", server_default="", deferred=True)


#: what ``pypinyin.lazy_pinyin`` uses (its default options), made once
_PINYIN = Pinyin(UltimateConverter())


@lru_cache(maxsize=65536)
def _segment_pinyin(words: str) -> tuple[str, ...]:
    """Pinyin of one segment of pypinyin's word segmentation (a phrase or a character)."""
    return tuple(chain.from_iterable(_PINYIN._converter.convert(words, Style.NORMAL, False, "default", True)))


@lru_cache(maxsize=65536)
def _run_pinyin(run: str) -> tuple[str, ...]:
    """Pinyin of a run of Chinese characters, exactly ``lazy_pinyin(run)``: the run cut into
    pypinyin's segments (phrases, characters), each segment's reading cached — company names
    are all different, but they are made of a few hundred phrases (北京, 科技, 有限公司)."""
    return tuple(py for words in _PINYIN.seg(run) for py in _segment_pinyin(words))


def _syllables(value: str) -> list[str]:
    """One syllable per Chinese character, other chunks as they are (marked with NUL)."""
    syllables = []
    for run in _RUNS.findall(value):
        syllables.extend(_run_pinyin(run) if _HANZI.match(run) else ["\x00" + run])
    return syllables


@lru_cache(maxsize=65536)
def name_pinyin(value: str, person: bool = False) -> tuple[str, str]:
    """(full pinyin, initials) of a name, lower-case letters and digits only: 北京科技 →
    ("beijingkeji", "bjkj"); a person's surname is read as a surname (曾 zeng, 单 shan).
    Latin parts are kept as they are; ("", "") for a name without Chinese characters."""
    if not value or not _HANZI.search(value):
        return "", ""
    syllables = _syllables(value)
    if person:
        head = value[:2]
        if head in COMPOUND_SURNAMES and len(syllables) >= 2 and not syllables[1].startswith("\x00"):
            syllables[:2] = COMPOUND_SURNAMES[head]
        elif value[0] in SURNAMES and not syllables[0].startswith("\x00"):
            syllables[0] = SURNAMES[value[0]]
    full, initials = [], []
    for syllable in syllables:
        key = _NOT_KEY.sub("", syllable.lower())
        full.append(key)
        initials.append(key if syllable.startswith("\x00") else key[:1])
    return "".join(full), "".join(initials)


def grams(text: str) -> list[str]:
    """Every character and every pair of neighbouring characters of the lower-cased text
    made of letters and digits only (what a one- or two-character term can be), sorted.
    (Caching per run of characters was tried for seed-demo: slower on real rows, whose
    runs — mobiles, addresses, names — are mostly unique; docs/scale.md.)"""
    low = text.lower()
    found = set()
    for i, char in enumerate(low):
        if char.isalnum():
            found.add(char)
            pair = low[i : i + 2]
            if len(pair) == 2 and pair.isalnum():
                found.add(pair)
    return sorted(found)


def search_keys(values: Mapping[str, object], columns: Iterable[str], pinyin: Mapping[str, str]) -> tuple[str, str]:
    """(search_pinyin, search_grams) of a row given its column values."""
    keys: list[str] = []
    for name, kind in pinyin.items():
        for key in name_pinyin(str(values.get(name) or ""), kind == "person"):
            if key and key not in keys:
                keys.append(key)
    text = "\n".join([*(str(values.get(name) or "") for name in columns), *keys])
    return SEPARATOR.join(keys), SEPARATOR.join(grams(text))


def searchable_models() -> list[type]:
    """Every mapped class with indexed search."""
    from . import db

    return [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, Searchable) and m.class_.__search__]


def _fill(obj) -> None:
    model = type(obj)
    values = {name: getattr(obj, name) for name in (*model.__search__, *model.__search_pinyin__)}
    obj.search_pinyin, obj.search_grams = search_keys(values, model.__search__, model.__search_pinyin__)


@event.listens_for(Session, "before_flush")
def _fill_search_keys(session, flush_context, instances) -> None:
    """Keys of new rows and of rows whose indexed columns changed, in the same flush."""
    for obj in session.new:
        if isinstance(obj, Searchable) and type(obj).__search__:
            _fill(obj)
    for obj in session.dirty:
        if isinstance(obj, Searchable) and type(obj).__search__:
            state = inspect(obj)
            names = (*type(obj).__search__, *type(obj).__search_pinyin__)
            if any(state.attrs[name].history.has_changes() for name in names):
                _fill(obj)


def rebuild_search_keys(session, model=None, chunk: int = 5000) -> int:
    """Fill ``search_pinyin`` and ``search_grams`` of rows written without the ORM (bulk
    Core inserts, e.g. seed-demo) for ``model`` or every searchable table; the index
    triggers follow. Rows whose keys are already right are left alone. Returns the number
    of rows updated. The caller commits."""
    changed = 0
    for target in [model] if model is not None else searchable_models():
        tbl = target.__table__
        names = list(dict.fromkeys((*target.__search__, *target.__search_pinyin__)))
        cols = [tbl.c.id, tbl.c.search_pinyin, tbl.c.search_grams, *(tbl.c[name] for name in names)]
        last = 0
        while True:
            rows = session.execute(select(*cols).where(tbl.c.id > last).order_by(tbl.c.id).limit(chunk)).all()
            if not rows:
                break
            last = rows[-1].id
            updates = []
            for row in rows:
                values = row._mapping
                keys = search_keys(values, target.__search__, target.__search_pinyin__)
                if keys != (row.search_pinyin, row.search_grams):
                    updates.append({"row_id": row.id, "pinyin": keys[0], "grams": keys[1]})
            if updates:
                statement = (
                    update(tbl)
                    .where(tbl.c.id == bindparam("row_id"))
                    .values(search_pinyin=bindparam("pinyin"), search_grams=bindparam("grams"))
                )
                session.connection().execute(statement, updates)
                changed += len(updates)
    return changed


def suspend_search_index(session, models=None) -> None:
    """Bulk writes over several transactions (seed-demo): on SQLite drop the FTS5 triggers
    until :func:`resume_search_index`; PostgreSQL indexes follow by themselves."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        for model in models or searchable_models():
            for statement in sqlite_drop_ddl(model.__tablename__, tables=False):
                connection.exec_driver_sql(statement)


def resume_search_index(session, models=None) -> None:
    """After bulk writes: the triggers back and the FTS5 tables rebuilt from the rows
    (idempotent: a resumed run may call it again)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        for model in models or searchable_models():
            drop = sqlite_drop_ddl(model.__tablename__, tables=False)
            for statement in drop + sqlite_ddl(model.__tablename__, model.__search__, tables=False):
                connection.exec_driver_sql(statement)


@contextmanager
def paused_search_index(session, models=None):
    """Bulk writes in one transaction: :func:`suspend_search_index` while the block runs,
    :func:`resume_search_index` at its end (much faster than a trigger per row). Call
    ``rebuild_search_keys`` inside the block after the inserts."""
    suspend_search_index(session, models)
    yield
    resume_search_index(session, models)


# --- the index of each database -------------------------------------------------------


def trigram_sql(columns: Iterable[str]) -> str:
    """PostgreSQL: the indexed text of a row, the same expression in the index and the query."""
    return " || ' ' || ".join(f"coalesce({name}, '')" for name in (*columns, "search_pinyin"))


def sqlite_ddl(tablename: str, columns: Iterable[str], tables: bool = True) -> list[str]:
    """SQLite: the FTS5 tables over ``tablename`` (external content: no copy of the text)
    and the triggers keeping them in step with the rows in the same transaction (with
    ``tables`` False: only the triggers, and the existing tables rebuilt)."""
    statements = []
    indexed = {
        f"fts_{tablename}": ([*columns, "search_pinyin"], "trigram"),
        f"fts_{tablename}_grams": (["search_grams"], "unicode61 remove_diacritics 0"),
    }
    for fts, (names, tokenizer) in indexed.items():
        listed = ", ".join(names)
        new = ", ".join(f"new.{name}" for name in names)
        old = ", ".join(f"old.{name}" for name in names)
        remove = f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old});"
        add = f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new});"
        if tables:
            statements.append(
                f"CREATE VIRTUAL TABLE {fts} USING fts5({listed}, content='{tablename}', content_rowid='id', "
                f"tokenize='{tokenizer}')"
            )
        statements += [
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {tablename} BEGIN {add} END",
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {tablename} BEGIN {remove} END",
            f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {listed} ON {tablename} BEGIN {remove} {add} END",
            f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
        ]
    return statements


def sqlite_drop_ddl(tablename: str, tables: bool = True) -> list[str]:
    """SQLite: drop what ``sqlite_ddl`` made (with ``tables`` False: only the triggers)."""
    statements = []
    for fts in (f"fts_{tablename}", f"fts_{tablename}_grams"):
        statements += [f"DROP TRIGGER IF EXISTS {fts}_{kind}" for kind in ("ai", "ad", "au")]
        if tables:
            statements.append(f"DROP TABLE IF EXISTS {fts}")
    return statements


def postgresql_ddl(tablename: str, columns: Iterable[str]) -> list[str]:
    """PostgreSQL: a pg_trgm GIN index on the row's text, a GIN index on its grams."""
    return [
        f"CREATE INDEX ix_{tablename}_search_trgm ON {tablename} USING gin (({trigram_sql(columns)}) gin_trgm_ops)",
        f"CREATE INDEX ix_{tablename}_search_grams ON {tablename} USING gin (string_to_array(search_grams, ' '))",
    ]


def postgresql_drop_ddl(tablename: str) -> list[str]:
    """PostgreSQL: drop what ``postgresql_ddl`` made."""
    return [f"DROP INDEX IF EXISTS ix_{tablename}_search_{kind}" for kind in ("trgm", "grams")]


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards taken literally (escape character: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def is_gram(term: str) -> bool:
    """Whether a one- or two-character term is answered by the grams index."""
    return 1 <= len(term) <= 2 and term.isalnum()


def indexed_ids(model, term: str, dialect: str):
    """The ids of ``model``'s rows an index offers for ``term`` (a superset of the rows whose
    indexed columns or pinyin contain it, case aside), or None when no index answers it."""
    tablename = model.__tablename__
    if len(term) >= 3:
        if dialect == "sqlite":
            fts = table(f"fts_{tablename}", column("rowid"))
            phrase = '"' + term.replace('"', '""') + '"'
            return select(fts.c.rowid).where(literal_column(f"fts_{tablename}").op("MATCH")(phrase))
        if dialect == "postgresql":
            rows = table(tablename, column("id"))
            pattern = f"%{escape_like(term)}%"
            return select(rows.c.id).where(literal_column(f"({trigram_sql(model.__search__)})").ilike(pattern))
        return None
    if not is_gram(term):
        return None
    gram = term.lower()
    if dialect == "sqlite":
        fts = table(f"fts_{tablename}_grams", column("rowid"))
        return select(fts.c.rowid).where(literal_column(f"fts_{tablename}_grams").op("MATCH")(f'"{gram}"'))
    if dialect == "postgresql":
        rows = table(tablename, column("id"))
        words = literal_column("string_to_array(search_grams, ' ')", ARRAY(Text))
        return select(rows.c.id).where(words.contains(cast([gram], ARRAY(Text))))
    return None
