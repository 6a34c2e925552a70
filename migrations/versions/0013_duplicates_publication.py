"""duplicates flagged at intake (cases.probable_duplicate_of, cases.supporters) and photos an
operator marked publishable on the public board (case_photos.publishable)

Revision ID: 0013
Revises: 0012
"""

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


# probable_duplicate_of: the nearest open case of the same category within 50 m and 24 h,
# found by the intake's INSERT itself over ix_cases_open_geom (cases/queries.sql insert_case),
# so the check costs no round trip and no new index. supporters: the reporters of merged
# duplicates, shown as "+N" (the merge itself comes with the workflow).
def upgrade() -> None:
    op.add_column("cases", sa.Column("probable_duplicate_of", sa.BigInteger(), nullable=True))
    op.create_foreign_key("fk_cases_probable_duplicate_of", "cases", "cases",
                          ["probable_duplicate_of"], ["id"])
    op.add_column("cases", sa.Column("supporters", sa.Integer(), server_default=sa.text("0"),
                                     nullable=False))
    op.add_column("case_photos", sa.Column("publishable", sa.Boolean(),
                                           server_default=sa.text("false"), nullable=False))


def downgrade() -> None:
    op.drop_column("case_photos", "publishable")
    op.drop_column("cases", "supporters")
    op.drop_constraint("fk_cases_probable_duplicate_of", "cases", type_="foreignkey")
    op.drop_column("cases", "probable_duplicate_of")
