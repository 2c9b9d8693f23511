"""CLI commands (SPEC §2.2): seed, seed-demo, create-user, detect-churn, backup, restore, run-jobs."""

from __future__ import annotations

import os
import secrets
import sys

import click
from sqlalchemy import func, select

from models import db, settings
from models.audit import set_cli_actor
from models.auth import Department, Right, Role, SystemConfig, User
from models.lookups import LOOKUPS, Area, SalesStage

from . import reference as ref

#: from this many demo clients on, seed-demo drops and rebuilds the big tables' indexes
#: (10,000 on PostgreSQL: 1 min 58 s with the rebuild, 3 min 55 s keeping them, docs/scale.md)
BULK_FROM = 10_000


def seed_reference(echo=click.echo) -> dict:
    """Idempotent: rights tree, roles, lookups, config defaults. New rights are granted
    to the seeded roles that the matrix gives them; existing ones are left as edited."""
    made = {"rights": 0, "roles": 0, "lookups": 0, "config": 0}
    existing = {r.code: r for r in db.session.execute(select(Right)).scalars()}
    new_codes = []
    order = 0

    def right(code, parent, kind, text, text_en, endpoint=None):
        nonlocal order
        order += 10
        if code not in existing:
            existing[code] = Right(
                code=code,
                parent_code=parent,
                type=kind,
                text=text,
                text_en=text_en,
                endpoint=endpoint,
                sort_order=order,
            )
            db.session.add(existing[code])
            new_codes.append(code)

    for module, zh, en, menus in ref.MODULES:
        right(module, None, "module", zh, en)
        for endpoint, mzh, men, extra, *ops in menus:
            right(endpoint, module, "menu", mzh, men, endpoint)
            for op in ops[0] if ops else ("view", "create", "edit", "delete", "export"):
                right(
                    f"{endpoint}.{op}",
                    endpoint,
                    "action",
                    f"{mzh}-{ref.OP_TEXT[op][0]}",
                    f"{men}: {ref.OP_TEXT[op][1]}",
                    endpoint,
                )
            for op, ozh, oen in extra:
                right(f"{endpoint}.{op}", endpoint, "action", f"{mzh}-{ozh}", f"{men}: {oen}", endpoint)
    made["rights"] = len(new_codes)
    db.session.flush()

    roles = {r.code: r for r in db.session.execute(select(Role)).scalars()}
    for code, zh, en, scope in ref.ROLES:
        role = roles.get(code)
        grant = ref.role_codes(code)
        if role is None:
            role = Role(code=code, name=zh, description=en, data_scope=scope, is_active=True)
            role.rights = [existing[c] for c in sorted(grant) if c in existing]
            db.session.add(role)
            made["roles"] += 1
        else:
            role.rights += [existing[c] for c in new_codes if c in grant and existing[c] not in role.rights]

    for endpoint, values in ref.LOOKUP_VALUES.items():
        model = LOOKUPS[endpoint]
        names = set(db.session.execute(select(model.name)).scalars())
        for index, value in enumerate(values):
            if endpoint == "area":
                province, cities = value
                parent = db.session.execute(select(Area).where(Area.name == province)).scalar()
                if parent is None:
                    parent = Area(name=province, sort_order=index * 100)
                    db.session.add(parent)
                    db.session.flush()
                    made["lookups"] += 1
                names.add(province)
                for j, city in enumerate(cities):
                    if city not in names:
                        if city == province:
                            continue
                        db.session.add(Area(name=city, parent_id=parent.id, sort_order=index * 100 + j + 1))
                        names.add(city)
                        made["lookups"] += 1
                continue
            name, extra = value if isinstance(value, tuple) else (value, None)
            if name in names:
                continue
            row = model(name=name, sort_order=(index + 1) * 10)
            if model is SalesStage:
                row.probability = extra
            db.session.add(row)
            made["lookups"] += 1

    from .holidays import seed_sla

    db.session.flush()
    made.update(seed_sla(db.session))

    configured = set(db.session.execute(select(SystemConfig.name)).scalars())
    for name, value, description in settings.seed_rows():
        if name not in configured:
            db.session.add(SystemConfig(name=name, value=value, description=description))
            made["config"] += 1
    db.session.flush()
    return made


def after_bulk_load(session) -> None:
    """Called once at the end of a seed-demo run, after the bulk load and the index build
    and before ANALYZE: the place for derived data built in one pass over the seeded rows
    (the FTS5 tables of the search index). Must be idempotent: a resumed run calls it again.
    The search keys themselves are written with the rows (``seed.bulk.fill_search_keys``):
    an UPDATE of every row afterwards cost half of a PostgreSQL seed."""
    from models.search import resume_search_index

    resume_search_index(session)


def make_user(username, role_code, password, name=None, department=None) -> User:
    """Create an active user (raises click.ClickException when it cannot)."""
    if db.session.execute(select(User).where(User.username == username)).scalar() is not None:
        raise click.ClickException(f"user '{username}' already exists")
    role = db.session.execute(select(Role).where(Role.code == role_code)).scalar()
    if role is None:
        raise click.ClickException(
            f"unknown role '{role_code}'; run 'flask --app app seed' "
            f"first or choose one of: {', '.join(r[0] for r in ref.ROLES)}"
        )
    dep = None
    if department:
        dep = db.session.execute(select(Department).where(Department.name == department)).scalar()
        if dep is None:
            raise click.ClickException(f"unknown department '{department}'")
    user = User(username=username, name=name or username, role=role, department=dep, is_active=True)
    try:
        user.set_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.add(user)
    return user


def register_cli(app) -> None:
    @app.cli.command("seed")
    def seed_command():
        """Roles, rights, lookups, config defaults and an admin user if none exists (idempotent)."""
        set_cli_actor(None)
        made = seed_reference()
        if db.session.execute(select(func.count()).select_from(User)).scalar() == 0:
            password = os.environ.get("CRM_ADMIN_PASSWORD") or secrets.token_urlsafe(9)
            make_user("admin", "admin", password, name="系统管理员")
            path = os.path.join(app.instance_path, "admin_password")
            if not os.environ.get("CRM_ADMIN_PASSWORD"):
                with open(path, "w") as fh:
                    fh.write(password + "\n")
                os.chmod(path, 0o600)
                click.echo(f"Created user admin with password {password} (change it after logging in)")
            else:
                click.echo("Created user admin with the password from CRM_ADMIN_PASSWORD")
        db.session.commit()
        click.echo("Seeded: " + ", ".join(f"{k} +{v}" for k, v in made.items()))

    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", "role_code", required=True, help="role code, e.g. clerk")
    @click.option("--password", required=True, help="at least 8 characters")
    @click.option("--name", default=None, help="full name (default: the username)")
    @click.option("--department", default=None, help="department name")
    def create_user_command(username, role_code, password, name, department):
        """Create an active user."""
        set_cli_actor(None)
        make_user(username, role_code, password, name, department)
        db.session.commit()
        click.echo(f"Created user {username} ({role_code})")

    @app.cli.command("detect-churn")
    @click.option(
        "--days",
        type=click.IntRange(min=1),
        default=None,
        help="days without an order before a warning (default: the churn_days setting)",
    )
    @click.option(
        "--today",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        default=None,
        help="the day of the run, YYYY-MM-DD (default: today in the display time zone)",
    )
    @click.option(
        "--department", default=None, help="only clients whose owner is in this department or its sub-departments"
    )
    def detect_churn_command(days, today, department):
        """Create a churn warning for every live client without an order for DAYS days
        (none while one is open; a confirmed loss again only after a newer order).
        Idempotent; prints how many were created, per owner's department."""
        from models.auth import department_subtree_ids
        from models.churn import ClientLoss, churn_days, detect_churn
        from models.customers import Client

        set_cli_actor(None)
        days = days or churn_days()
        day = today.date() if today else None
        client_ids = None
        if department:
            dep = db.session.execute(select(Department).where(Department.name == department)).scalar()
            if dep is None:
                raise click.ClickException(f"unknown department '{department}'")
            owners = select(User.id).where(User.department_id.in_(department_subtree_ids(dep.id)))
            client_ids = select(Client.id).where(Client.owner_id.in_(owners))
        before = db.session.execute(select(func.coalesce(func.max(ClientLoss.id), 0))).scalar()
        created = detect_churn(day, days, client_ids)
        owner = User.__table__.alias("owner")
        per_department = db.session.execute(
            select(Department.name, func.count(ClientLoss.id))
            .select_from(ClientLoss)
            .outerjoin(owner, owner.c.id == ClientLoss.owner_id)
            .outerjoin(Department, Department.id == owner.c.department_id)
            .where(ClientLoss.id > before)
            .group_by(Department.name)
            .order_by(Department.name)
        ).all()
        db.session.commit()
        click.echo(
            f"Created {created} churn warning(s) (no order for {days} days"
            + (f", as of {day.isoformat()}" if day else "")
            + ")."
        )
        for name, count in per_department:
            click.echo(f"  {name or '(no department)'}: {count}")

    @app.cli.command("backup")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option(
        "--keep",
        type=click.IntRange(min=1),
        default=None,
        help="after a successful backup keep only the newest N archives of FILE's pattern "
        "in its folder (FILE must contain {timestamp})",
    )
    def backup_command(file, keep):
        """Consistent online backup of the database and the uploaded files into the tar
        archive FILE, with a manifest.json (schema revision, row counts, SHA-256 of every part).

        {timestamp} in FILE becomes the UTC time, e.g. 'backups/crm-{timestamp}.tar' →
        backups/crm-20261201T091500.123456Z.tar; with --keep N, archives named by the same
        pattern with another timestamp are deleted except the newest N (other files stay).
        The archive is written to FILE.part and renamed when complete. The app may keep
        serving meanwhile (SQLite backup API; pg_dump -Fc for PostgreSQL)."""
        from .backup import BackupError, create_backup, describe

        try:
            result = create_backup(db.engine, app.config["UPLOAD_FOLDER"], file, keep)
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        manifest = result.manifest
        click.echo(f"Backup written to {result.path} ({result.path.stat().st_size} bytes): {describe(manifest)}.")
        if manifest["missing_files"]:
            click.echo(
                f"Warning: {len(manifest['missing_files'])} uploaded files recorded in the database "
                f"were not in {app.config['UPLOAD_FOLDER']}: {', '.join(manifest['missing_files'][:5])}",
                err=True,
            )
        for old in result.removed:
            click.echo(f"Removed old backup {old}")

    @app.cli.command("restore")
    @click.argument("file", type=click.Path(dir_okay=False))
    @click.option(
        "--force",
        is_flag=True,
        help="replace a database and upload folder that are not empty (everything in them is lost)",
    )
    @click.option("--check", "check_only", is_flag=True, help="only verify the archive; change nothing")
    def restore_command(file, force, check_only):
        """Restore a backup made by 'backup' into this app's database and upload folder.

        The archive is verified first (manifest, SHA-256 of every part, database kind, the
        schema revision equal to this code's migrations, row counts); any mismatch is
        refused before anything changes. The database must be empty (a new SQLite file or
        a new PostgreSQL database) unless --force. Stop the app while restoring."""
        from .backup import BackupError, describe, restore_backup, schema_head

        try:
            manifest = restore_backup(
                db.engine,
                app.config["UPLOAD_FOLDER"],
                file,
                schema_head(app.extensions["migrate"].directory),
                force,
                check_only,
            )
        except BackupError as exc:
            raise click.ClickException(str(exc)) from None
        summary = f"{describe(manifest)}, made {manifest['created_at']}"
        click.echo(
            f"Verified {file}: {summary}; nothing was changed." if check_only else f"Restored {file}: {summary}."
        )

    @app.cli.command("seed-demo")
    @click.option(
        "--seed",
        "seed_value",
        default=2026,
        show_default=True,
        type=int,
        help="random seed: the same seed gives the same data",
    )
    @click.option("--if-empty", is_flag=True, help="do nothing when demo data is already there")
    @click.option(
        "--password", default=None, help="password of the demo users (default: CRM_DEMO_PASSWORD or demo12345)"
    )
    @click.option(
        "--clients",
        "clients",
        default=200,
        show_default=True,
        type=click.IntRange(min=0),
        help="how many demo clients (with contacts, follow-ups, appointments, contracts)",
    )
    @click.option(
        "--bulk/--no-bulk",
        "bulk_load",
        default=None,
        help="drop the big tables' secondary indexes for the load and build them once at the end, "
        f"then ANALYZE (default: from {BULK_FROM:,} clients on)",
    )
    def seed_demo_command(seed_value, if_empty, password, clients, bulk_load):
        """Realistic Chinese demo data: departments, users of every role, clients.

        Clients are written in chunks, each committed with its contacts, contracts,
        receipts and orders; a run that was interrupted is resumed by the next run."""
        from .demo import interrupted_run, seed_demo

        set_cli_actor(None)
        seed_reference(echo=lambda *a, **k: None)
        pending = interrupted_run()
        if pending:
            click.echo(
                f"Resuming an interrupted seed-demo run: {pending['done']:,} of {pending['clients']:,} "
                "clients were committed; adding the rest."
            )
            seed_value = pending["seed"]
        elif if_empty and db.session.execute(select(func.count()).select_from(Department)).scalar():
            click.echo("Demo data already present; nothing to do.")
            db.session.commit()
            return
        password = password or os.environ.get("CRM_DEMO_PASSWORD") or "demo12345"
        target = pending["clients"] if pending else clients
        if bulk_load is None:
            bulk_load = target >= BULK_FROM
        summary = seed_demo(seed_value, password, clients, commit=db.session.commit, bulk_load=bulk_load)
        db.session.commit()
        click.echo(f"Demo data: {summary}. Demo users log in with password {password}.")
        sys.stdout.flush()

    @app.cli.command("run-jobs")
    @click.option("--once", is_flag=True, help="run the jobs queued now, then exit (else: keep polling)")
    @click.option(
        "--poll",
        default=2.0,
        show_default=True,
        type=click.FloatRange(min=0.1),
        help="seconds between looks at the queue",
    )
    def run_jobs_command(once, poll):
        """The background worker: imports (later large exports, e-mail batches). Each job
        runs once; a job of a killed worker is taken over after JOB_STALE_SECONDS."""
        from models.jobs import run_pending, work_forever

        if once:
            click.echo(f"Ran {run_pending()} job(s).")
            return
        click.echo(f"Waiting for jobs (every {poll:g} s; Ctrl-C stops).")
        try:
            work_forever(poll, echo=click.echo)
        except KeyboardInterrupt:
            click.echo("Stopped.")
