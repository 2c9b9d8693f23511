"""CLI commands (SPEC §2.2) and migrations (`db upgrade` on an empty database)."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from models.auth import Department, Right, Role, User
from tests.conftest import PG_URL, fresh_database, make_app


def test_seed_is_idempotent(app, db_session):
    before = {m: db_session.execute(select(func.count()).select_from(m)).scalar() for m in (Right, Role, User)}
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed"])
    assert result.exit_code == 0, result.output
    assert "rights +0, roles +0, lookups +0, config +0" in result.output
    db_session.expire_all()
    after = {m: db_session.execute(select(func.count()).select_from(m)).scalar() for m in (Right, Role, User)}
    assert after == before
    admin = db_session.execute(select(Role).where(Role.code == "admin")).scalar_one()
    assert "user.sensitive" in {r.code for r in admin.rights}


def test_create_user_command(app, db_session):
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=[
            "create-user",
            "lisi",
            "--role",
            "finance",
            "--password",
            "pass-word-9",
            "--name",
            "李四",
            "--department",
            "销售一部",
        ]
    )
    assert ok.exit_code == 0, ok.output
    user = db_session.execute(select(User).where(User.username == "lisi")).scalar_one()
    assert user.role.code == "finance" and user.department.name == "销售一部" and user.check_password("pass-word-9")
    again = runner.invoke(args=["create-user", "lisi", "--role", "finance", "--password", "pass-word-9"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad_role = runner.invoke(args=["create-user", "wangwu", "--role", "pilot", "--password", "pass-word-9"])
    assert bad_role.exit_code != 0 and "unknown role" in bad_role.output
    assert "--role" in runner.invoke(args=["create-user", "--help"]).output


def _demo_rows(app):
    """Run seed-demo --seed 7 (--clients 5 keeps it quick) and return the account managers."""
    result = app.test_cli_runner().invoke(args=["seed-demo", "--seed", "7", "--clients", "5"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from models import db

        rows = db.session.execute(
            select(User.username, User.name, User.mobile, User.id_card)
            .where(User.username.like("am%"))
            .order_by(User.username)
        ).all()
        roles = set(db.session.execute(select(Role.code).join(User, User.role_id == Role.id)).scalars())
        deps = db.session.execute(select(func.count()).select_from(Department)).scalar()
        db.session.remove()
        db.engine.dispose()
    assert {
        "executive",
        "sales_director",
        "account_manager",
        "clerk",
        "finance",
        "service",
        "marketing",
        "admin",
    } <= roles
    assert deps >= 9
    return rows


def test_seed_demo_is_deterministic_and_realistic(database_url, template_db, tmp_path):
    with fresh_database(template_db, tmp_path) as second:
        outputs = [_demo_rows(make_app(url, tmp_path)) for url in (database_url, second)]
    assert outputs[0] == outputs[1] and len(outputs[0]) >= 11
    from models import validators

    for _, name, mobile, id_card in outputs[0]:
        assert 2 <= len(name) <= 4 and validators.mobile(mobile) == mobile
        assert validators.id_card(id_card) == id_card
    again = make_app(database_url, tmp_path).test_cli_runner().invoke(args=["seed-demo", "--if-empty"])
    assert "nothing to do" in again.output


def test_upgrade_on_an_empty_database_and_models_match_migrations(tmp_path):
    """`flask db upgrade` on an empty database (SQLite, or PostgreSQL in CI) creates the
    schema, and autogenerate finds nothing left to migrate."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from models import db

    if PG_URL:
        url = make_url(PG_URL)
        name = f"crm_empty_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        target = url.set(database=name).render_as_string(hide_password=False)
    else:
        target = f"sqlite:///{tmp_path / 'empty.db'}"
    app = make_app(target, tmp_path)
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                ctx = MigrationContext.configure(conn)
                metadata_tables = {t for t in db.metadata.tables if not t.startswith("probe_")}
                diff = [
                    d
                    for d in compare_metadata(ctx, db.metadata)
                    if not (isinstance(d, tuple) and d[0] == "add_table" and d[1].name not in metadata_tables)
                    # the FTS5 search tables (and their shadow tables) live beside the models
                    and not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name.startswith("fts_"))
                    # … and the PostgreSQL expression indexes of search (models/search.py: postgresql_ddl)
                    and not (isinstance(d, tuple) and d[0] == "remove_index" and "_search_" in str(d[1].name))
                ]
                assert diff == [], diff
                tables = set(conn.dialect.get_table_names(conn))
            assert {
                "users",
                "sys_role",
                "sys_right",
                "sys_role_right",
                "department",
                "user_log",
                "system_config",
                "audit_log",
                "system_trade",
                "system_area",
                "system_stage",
            } <= tables
            db.session.remove()
            db.engine.dispose()
    finally:
        if PG_URL:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_migrations_down_and_up_again_on_a_database_with_data(tmp_path):
    """A database in use goes back to 0014 and up to head: the SQLite batch migrations that
    rebuild `users` (0015: the absent flag) work while clients, contracts and logs refer to
    its rows (foreign keys are off for the migration and checked after), and no row is lost."""
    from flask_migrate import downgrade, upgrade

    from models import db
    from seed import make_user, seed_reference

    target = f"sqlite:///{tmp_path / 'used.db'}"
    app = make_app(target, tmp_path)
    with app.app_context():
        upgrade()
        seed_reference()
        from tests.factories import make_client

        make_client(db.session, make_user("kept", "clerk", "secret-pass-1", name="留下"), name="引用用户的客户")
        db.session.commit()
        users = db.session.scalar(select(func.count()).select_from(User))
        db.session.remove()
        downgrade(revision="0014_service")
        upgrade()
        assert db.session.scalar(select(func.count()).select_from(User)) == users
        assert db.session.scalar(select(User.absent).where(User.username == "kept")) is False
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
