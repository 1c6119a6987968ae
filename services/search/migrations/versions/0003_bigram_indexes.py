"""scoped bigram indexes replace the trigram indexes (partial name/plate/model search)

A 2-character needle (山田, the commonest way to look a customer up) has no trigram, so the trigram
index read the whole index for it: 1.5 s over 1,000,000 contracts. The bigram indexes carry the
dealer (and, in a second key, the store) in every key, so any needle of two or more characters reads
only the candidates of the searching user's dealer (hq) or store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 12:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as they were at this revision (the models' copy is services/search/db.py).
TRIGRAM_COLUMNS = BIGRAM_COLUMNS = ("search_name", "search_plate", "search_model")
LISTED = "version > -1 AND status <> 'cancelled'"
BIGRAM_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION jpass_bigrams(dealer text, store text, value text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT scope || substr(value, i, 2)), '{}'::text[])
  FROM generate_series(1, length(value) - 1) AS i,
       unnest(ARRAY[dealer || ':', dealer || '/' || store || ':']) AS scope
$$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(BIGRAM_FUNCTION_SQL)
    for column in BIGRAM_COLUMNS:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_contracts_bigram_{column} ON contracts "
            f"USING gin (jpass_bigrams(dealer_code, store_code, {column})) WHERE {LISTED}"
        )
    for column in TRIGRAM_COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_contracts_trgm_{column}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in TRIGRAM_COLUMNS:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS ix_contracts_trgm_{column} ON contracts USING gin ({column} gin_trgm_ops)"
        )
    for column in BIGRAM_COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_contracts_bigram_{column}")
    op.execute("DROP FUNCTION IF EXISTS jpass_bigrams(text, text, text)")
