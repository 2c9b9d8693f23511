import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")


def get_engine():
    try:
        # this works with Flask-SQLAlchemy<3 and Alchemical
        return current_app.extensions["migrate"].db.get_engine()
    except (TypeError, AttributeError):
        # this works with Flask-SQLAlchemy>=3
        return current_app.extensions["migrate"].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
    except AttributeError:
        return str(get_engine().url).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def render_item(type_, obj, autogen_context):
    """Render our column types as plain SQL types, so migrations never import app code:
    Money is BIGINT fen, Percent INTEGER hundredths, UTCDateTime is a timezone-aware DateTime."""
    if type_ == "type":
        name = type(obj).__name__
        if name == "Money":
            return "sa.BigInteger()"
        if name == "Percent":
            return "sa.Integer()"
        if name == "UTCDateTime":
            return "sa.DateTime(timezone=True)"
    return False


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    applied = []

    def on_version_apply(ctx, step, heads, run_args):
        applied.append(step)

    with connectable.connect() as connection:
        # SQLite: a batch migration rebuilds a table (copy, DROP, rename); with foreign keys
        # on, dropping a table other rows refer to (users) fails on a database with data. Off
        # for the migration (outside a transaction, where the pragma takes effect), checked after.
        raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            render_item=render_item,
            on_version_apply=on_version_apply,
            **conf_args,
        )

        with context.begin_transaction():
            context.run_migrations()
            if raw is not None:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows whose references are broken: {broken[:5]}")
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=ON")

        if applied:  # new tables and indexes: the planner needs statistics (models/dbstats.py)
            from models.dbstats import refresh_statistics

            refresh_statistics(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
