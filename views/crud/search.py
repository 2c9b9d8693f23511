"""Search: the list's search box over the view's ``column_searchable_list``, answered from
the search indexes of ``models/search.py`` where they cover every searchable column, and
always checked with the plain ``LIKE`` clause, so the rows found are those of a plain
search (plus pinyin matches of names); exact and prefix matches come first.

Each word of the search is one term, every term must match: ``word`` anywhere, ``^word``
at the start, ``=word`` the whole value; ``%`` and ``_`` are taken literally.
"""

from __future__ import annotations

from sqlalchemy import case, or_, select, union
from sqlalchemy.orm import MANYTOONE, ONETOMANY

from models import db
from models.search import Searchable, escape_like, indexed_ids


def parse_term(term: str) -> tuple[str, str]:
    """(the text of a term, its LIKE pattern): ``^x`` → ``x%``, ``=x`` → ``x``, else ``%x%``."""
    if term.startswith("^"):
        return term[1:], escape_like(term[1:]) + "%"
    if term.startswith("="):
        return term[1:], escape_like(term[1:])
    return term, f"%{escape_like(term)}%"


def pinyin_pattern(term: str) -> str | None:
    """The pattern over the pinyin keys of a plain term of Latin letters and digits."""
    if term[:1] in ("^", "=") or not (term.isascii() and term.isalnum()):
        return None
    return f"%{term.lower()}%"


def _like(column, pattern: str):
    return column.ilike(pattern, escape="\\")


class SearchMixin:
    """The view's search: ``_apply_search`` of Flask-Admin, same clause for count and page."""

    def _search_target(self, name: str):
        """(model, column, relationship or None) of a searchable name (``"client.name"``)."""
        if "." not in name:
            return self.model, name, None
        rel_name, column = name.split(".", 1)
        relation = getattr(self.model, rel_name)
        return relation.property.mapper.class_, column, relation

    def _search_clause(self, name: str, pattern: str, pinyin: str | None = None):
        """``name`` LIKE pattern (or its pinyin keys LIKE ``pinyin``); ``rel.column`` through
        EXISTS (one-to-many searches must not multiply rows: no join, so counts and pages
        stay right)."""
        target, column, relation = self._search_target(name)
        inner = _like(getattr(target, column), pattern)
        if pinyin and column in getattr(target, "__search_pinyin__", {}):
            inner = or_(inner, _like(target.search_pinyin, pinyin))
        if relation is None:
            return inner
        return relation.any(inner) if relation.property.uselist else relation.has(inner)

    def _indexed_ids(self, text: str):
        """The ids of this view's rows the search indexes offer for ``text`` (a superset of
        the rows the plain clause finds), or None when an index does not cover it all."""
        dialect = db.engine.dialect.name
        parts = {}
        for name in self.column_searchable_list:
            target, column, relation = self._search_target(name)
            if not (issubclass(target, Searchable) and column in target.__search__):
                return None
            key = relation.key if relation is not None else ""
            if key in parts:
                continue
            ids = indexed_ids(target, text, dialect)
            if ids is None:
                return None
            if relation is None:
                parts[key] = ids
                continue
            prop = relation.property
            if prop.secondary is not None or len(prop.local_remote_pairs) != 1:
                return None
            local, remote = prop.local_remote_pairs[0]
            if prop.direction is MANYTOONE:  # rows whose parent the index offers
                parts[key] = select(self.model.id).where(local.in_(ids)).correlate(None)
            elif prop.direction is ONETOMANY:  # parents of the children the index offers
                parts[key] = select(remote).where(target.id.in_(ids)).correlate(None)
            else:
                return None
        selects = list(parts.values())
        return selects[0] if len(selects) == 1 else union(*selects)

    def search_term_clause(self, term: str):
        """The rows one term finds: the plain clause over the searchable columns (and the
        pinyin of names), restricted to the rows the indexes offer when they cover it."""
        text, pattern = parse_term(term)
        pinyin = pinyin_pattern(term)
        clause = or_(*[self._search_clause(name, pattern, pinyin) for name in self.column_searchable_list])
        ids = self._indexed_ids(text) if text else None
        return clause if ids is None else self.model.id.in_(ids) & clause

    def search_rank(self, search: str):
        """0 for rows whose own column equals the first term, 1 for those starting with it,
        2 for the rest: the order before the list's sort."""
        terms = search.split()
        if not terms:
            return None
        text = parse_term(terms[0])[0]
        columns = [getattr(self.model, name) for name in self.column_searchable_list if "." not in name]
        if not text or not columns:
            return None
        exact = or_(*[_like(column, escape_like(text)) for column in columns])
        prefix = or_(*[_like(column, escape_like(text) + "%") for column in columns])
        return case((exact, 0), (prefix, 1), else_=2)

    def _apply_search(self, query, count_query, joins, count_joins, search):
        for term in search.split():
            clause = self.search_term_clause(term)
            query = query.filter(clause)
            if count_query is not None:
                count_query = count_query.filter(clause)
        rank = self.search_rank(search)
        if rank is not None:
            query = query.order_by(rank)
        return query, count_query, joins, count_joins
