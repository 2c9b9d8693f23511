"""marketing (issue 13): campaign, lead, and the tables the marketing e-mail will need —
marketing_email, email_log (one row per recipient, unique per e-mail and address) and
email_unsubscribe — with the list and filter indexes of the campaign and lead lists

Revision ID: 0018_marketing
Revises: 0017_report_indexes
Create Date: 2026-12-02 00:36:12.823379

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0018_marketing"
down_revision = "0017_report_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_unsubscribe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_unsubscribe")),
        sa.UniqueConstraint("address", name=op.f("uq_email_unsubscribe_address")),
    )
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("budget", sa.BigInteger(), nullable=True),
        sa.Column("actual_cost", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"], ["users.id"], name=op.f("fk_campaign_deleted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_campaign_owner_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["type_id"], ["system_campaign.id"], name=op.f("fk_campaign_type_id_system_campaign"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_deleted_by_id"), ["deleted_by_id"], unique=False)
        batch_op.create_index(
            "ix_campaign_live_ends_on",
            ["ends_on", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(
            "ix_campaign_live_name",
            ["name", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(
            "ix_campaign_live_starts_on",
            ["starts_on", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(
            "ix_campaign_live_status_starts_on",
            ["status", "starts_on", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index("ix_campaign_owner_id_starts_on", ["owner_id", "starts_on", "id"], unique=False)
        batch_op.create_index("ix_campaign_type_id_starts_on", ["type_id", "starts_on", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "marketing_email",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("queued_by_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipient_count", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_marketing_email_campaign_id_campaign"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_marketing_email_owner_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["queued_by_id"], ["users.id"], name=op.f("fk_marketing_email_queued_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_email")),
    )
    with op.batch_alter_table("marketing_email", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketing_email_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_marketing_email_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_marketing_email_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_marketing_email_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_marketing_email_queued_by_id"), ["queued_by_id"], unique=False)
        batch_op.create_index("ix_marketing_email_status_id", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_marketing_email_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "lead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("email", sa.String(length=120), nullable=True),
        sa.Column("uscc", sa.String(length=18), nullable=True),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("disqualified_reason", sa.Text(), nullable=True),
        sa.Column("converted_client_id", sa.Integer(), nullable=True),
        sa.Column("converted_linkman_id", sa.Integer(), nullable=True),
        sa.Column("converted_opportunity_id", sa.Integer(), nullable=True),
        sa.Column("converted_by_id", sa.Integer(), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("import_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"], ["users.id"], name=op.f("fk_lead_assigned_to_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_lead_campaign_id_campaign"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["converted_by_id"], ["users.id"], name=op.f("fk_lead_converted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["converted_client_id"],
            ["clients.id"],
            name=op.f("fk_lead_converted_client_id_clients"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["converted_linkman_id"],
            ["linkmans.id"],
            name=op.f("fk_lead_converted_linkman_id_linkmans"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["converted_opportunity_id"],
            ["sal_chance.id"],
            name=op.f("fk_lead_converted_opportunity_id_sal_chance"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by_id"], ["users.id"], name=op.f("fk_lead_deleted_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["import_job_id"], ["job.id"], name=op.f("fk_lead_import_job_id_job"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_lead_owner_id_users"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["source_id"], ["system_source.id"], name=op.f("fk_lead_source_id_system_source"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead")),
    )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        # the sort index first: PostgreSQL breaks a tie between equal plans by the later index
        batch_op.create_index(
            "ix_lead_live_created_at",
            ["created_at", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(batch_op.f("ix_lead_assigned_to_id"), ["assigned_to_id"], unique=False)
        batch_op.create_index(
            "ix_lead_live_assigned_to_id_created_at",
            ["assigned_to_id", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(batch_op.f("ix_lead_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(
            "ix_lead_live_campaign_id_created_at",
            ["campaign_id", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(batch_op.f("ix_lead_converted_by_id"), ["converted_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_converted_client_id"), ["converted_client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_converted_linkman_id"), ["converted_linkman_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_lead_converted_opportunity_id"), ["converted_opportunity_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lead_deleted_by_id"), ["deleted_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_email"), ["email"], unique=False)
        batch_op.create_index(
            "ix_lead_import_job_id",
            ["import_job_id"],
            unique=False,
            sqlite_where=sa.text("import_job_id IS NOT NULL"),
            postgresql_where=sa.text("import_job_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_lead_live_company_name",
            ["company_name", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(
            "ix_lead_live_contact_name",
            ["contact_name", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(
            "ix_lead_live_status_created_at",
            ["status", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(batch_op.f("ix_lead_mobile"), ["mobile"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            "ix_lead_live_owner_id_created_at",
            ["owner_id", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(batch_op.f("ix_lead_source_id"), ["source_id"], unique=False)
        batch_op.create_index(
            "ix_lead_live_source_id_created_at",
            ["source_id", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text("is_deleted = 0"),
            postgresql_where=sa.text("is_deleted = false"),
        )
        batch_op.create_index(batch_op.f("ix_lead_updated_at"), ["updated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_lead_uscc"), ["uscc"], unique=False)

    op.create_table(
        "email_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("skip_reason", sa.String(length=20), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("machine_open", sa.Boolean(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_email_log_client_id_clients"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["email_id"], ["marketing_email.id"], name=op.f("fk_email_log_email_id_marketing_email"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["lead.id"], name=op.f("fk_email_log_lead_id_lead"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_log")),
        sa.UniqueConstraint("email_id", "address", name=op.f("uq_email_log_email_id_address")),
        sa.UniqueConstraint("token", name=op.f("uq_email_log_token")),
    )
    with op.batch_alter_table("email_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_log_client_id"), ["client_id"], unique=False)
        batch_op.create_index("ix_email_log_email_id_status", ["email_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_email_log_lead_id"), ["lead_id"], unique=False)


def downgrade():
    op.drop_table("email_log")
    op.drop_table("lead")
    op.drop_table("marketing_email")
    op.drop_table("campaign")
    op.drop_table("email_unsubscribe")
