"""stix_objects on PostgreSQL: parents checked once per statement, not once per row

A foreign key on PostgreSQL checks every inserted row on its own (a row trigger that runs one
locking query against the parent per row). ``stix_objects`` gets hundreds of rows per share and
names only three parents (collection, producing organisation, sharing user), always the same
few: the three per-row checks cost 5 of the ~12 ms that storing an envelope of 500 took
(docs/benchmarks.md). This revision keeps the same rules and enforces them once per statement:

- after each INSERT or UPDATE statement on ``stix_objects``, one trigger gathers the distinct
  parents of the new rows (a transition table), locks them ``FOR KEY SHARE`` exactly as a
  foreign key check does, so that none can be deleted or re-keyed until the transaction ends,
  and fails with SQLSTATE 23503 (foreign_key_violation) if any is missing;
- deleting a collection deletes its objects (the old ``ON DELETE CASCADE``); deleting or
  re-keying an organisation, a user, or re-keying a collection that objects still name fails
  with 23503 (the old ``NO ACTION``). These run after the parent row is gone, so a concurrent
  writer that holds the parent's key-share lock has committed or rolled back by then, and in
  READ COMMITTED (the hub's isolation level) the check sees its rows;
- TRUNCATE of the collection, organisation or user table (also reached through another
  table's CASCADE) fails with 23503 while ``stix_objects`` holds rows. That is stricter than
  the foreign keys, under which TRUNCATE … CASCADE emptied ``stix_objects`` as well.

SQLite checks foreign keys in C within the insert itself, cheaply; its schema is unchanged. The
models still declare the foreign keys: that is the schema's meaning on both databases.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (constraint, column, parent table, ON DELETE) of the foreign keys this revision replaces.
_KEYS = (
    ("fk_stix_objects_collection_id_collections", "collection_id", "collections", "CASCADE"),
    ("fk_stix_objects_producer_org_id_organisations", "producer_org_id", "organisations", None),
    ("fk_stix_objects_shared_by_user_id_users", "shared_by_user_id", "users", None),
)

_CHILD_CHECK = """
CREATE FUNCTION varsel_stix_objects_parents_exist() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    wanted_collections text[];
    wanted_orgs bigint[];
    wanted_users bigint[];
    found bigint;
BEGIN
    SELECT array_agg(DISTINCT collection_id),
           array_agg(DISTINCT producer_org_id),
           array_agg(DISTINCT shared_by_user_id) FILTER (WHERE shared_by_user_id IS NOT NULL)
      INTO wanted_collections, wanted_orgs, wanted_users
      FROM new_rows;
    -- FOR KEY SHARE, as a foreign key check locks its parent row.
    SELECT count(*) INTO found FROM (
        SELECT 1 FROM collections WHERE id = ANY (wanted_collections) FOR KEY SHARE
    ) AS locked;
    IF found < coalesce(cardinality(wanted_collections), 0) THEN
        RAISE EXCEPTION 'stix_objects: collection_id names no collection'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT count(*) INTO found FROM (
        SELECT 1 FROM organisations WHERE id = ANY (wanted_orgs) FOR KEY SHARE
    ) AS locked;
    IF found < coalesce(cardinality(wanted_orgs), 0) THEN
        RAISE EXCEPTION 'stix_objects: producer_org_id names no organisation'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF wanted_users IS NOT NULL THEN
        SELECT count(*) INTO found FROM (
            SELECT 1 FROM users WHERE id = ANY (wanted_users) FOR KEY SHARE
        ) AS locked;
        IF found < cardinality(wanted_users) THEN
            RAISE EXCEPTION 'stix_objects: shared_by_user_id names no user'
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END IF;
    RETURN NULL;
END
$$
"""

# No "%" anywhere in these bodies: the driver would read it as a placeholder.
_STILL_NAMED = """
CREATE FUNCTION varsel_stix_objects_still_name() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    IF TG_ARGV[0] = 'collection_id' THEN
        SELECT EXISTS (SELECT 1 FROM stix_objects WHERE collection_id = OLD.id) INTO named;
    ELSIF TG_ARGV[0] = 'producer_org_id' THEN
        SELECT EXISTS (SELECT 1 FROM stix_objects WHERE producer_org_id = OLD.id) INTO named;
    ELSE
        SELECT EXISTS (SELECT 1 FROM stix_objects WHERE shared_by_user_id = OLD.id) INTO named;
    END IF;
    IF named THEN
        RAISE EXCEPTION USING
            MESSAGE = TG_OP || ' on ' || TG_TABLE_NAME || ': row ' || OLD.id
                || ' is still named by stix_objects.' || TG_ARGV[0],
            ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$
"""

_CASCADE = """
CREATE FUNCTION varsel_collection_objects_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stix_objects WHERE collection_id = OLD.id;
    RETURN NULL;
END
$$
"""

# TRUNCATE fires no row trigger. With the foreign keys, TRUNCATE of a parent failed, and with
# CASCADE it emptied stix_objects too; this guard is stricter: while stix_objects holds rows it
# refuses both (truncate stix_objects first), so no TRUNCATE can leave objects orphaned.
_TRUNCATE_GUARD = """
CREATE FUNCTION varsel_stix_objects_truncate_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM stix_objects) THEN
        RAISE EXCEPTION USING
            MESSAGE = 'TRUNCATE on ' || TG_TABLE_NAME
                || ': stix_objects still holds rows that name it; truncate stix_objects first',
            ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$
"""

_TRIGGERS = (
    "CREATE TRIGGER stix_objects_parents_inserted AFTER INSERT ON stix_objects "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION varsel_stix_objects_parents_exist()",
    "CREATE TRIGGER stix_objects_parents_updated AFTER UPDATE ON stix_objects "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION varsel_stix_objects_parents_exist()",
    "CREATE TRIGGER collections_delete_objects AFTER DELETE ON collections "
    "FOR EACH ROW EXECUTE FUNCTION varsel_collection_objects_delete()",
    "CREATE TRIGGER collections_rekey_objects AFTER UPDATE OF id ON collections "
    "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
    "EXECUTE FUNCTION varsel_stix_objects_still_name('collection_id')",
    "CREATE TRIGGER organisations_objects AFTER DELETE ON organisations "
    "FOR EACH ROW EXECUTE FUNCTION varsel_stix_objects_still_name('producer_org_id')",
    "CREATE TRIGGER organisations_rekey_objects AFTER UPDATE OF id ON organisations "
    "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
    "EXECUTE FUNCTION varsel_stix_objects_still_name('producer_org_id')",
    "CREATE TRIGGER users_objects AFTER DELETE ON users "
    "FOR EACH ROW EXECUTE FUNCTION varsel_stix_objects_still_name('shared_by_user_id')",
    "CREATE TRIGGER users_rekey_objects AFTER UPDATE OF id ON users "
    "FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) "
    "EXECUTE FUNCTION varsel_stix_objects_still_name('shared_by_user_id')",
    *(
        f"CREATE TRIGGER {table}_truncate_objects BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION varsel_stix_objects_truncate_guard()"
        for table in ("collections", "organisations", "users")
    ),
)

_DROPS = (
    "DROP TRIGGER stix_objects_parents_inserted ON stix_objects",
    "DROP TRIGGER stix_objects_parents_updated ON stix_objects",
    "DROP TRIGGER collections_delete_objects ON collections",
    "DROP TRIGGER collections_rekey_objects ON collections",
    "DROP TRIGGER organisations_objects ON organisations",
    "DROP TRIGGER organisations_rekey_objects ON organisations",
    "DROP TRIGGER users_objects ON users",
    "DROP TRIGGER users_rekey_objects ON users",
    "DROP TRIGGER collections_truncate_objects ON collections",
    "DROP TRIGGER organisations_truncate_objects ON organisations",
    "DROP TRIGGER users_truncate_objects ON users",
    "DROP FUNCTION varsel_stix_objects_parents_exist()",
    "DROP FUNCTION varsel_stix_objects_still_name()",
    "DROP FUNCTION varsel_collection_objects_delete()",
    "DROP FUNCTION varsel_stix_objects_truncate_guard()",
)


def upgrade() -> None:
    """Apply this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _column, _parent, _ondelete in _KEYS:
        op.drop_constraint(name, "stix_objects", type_="foreignkey")
    for statement in (_CHILD_CHECK, _STILL_NAMED, _CASCADE, _TRUNCATE_GUARD, *_TRIGGERS):
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in _DROPS:
        op.get_bind().exec_driver_sql(statement)
    for name, column, parent, ondelete in _KEYS:
        op.create_foreign_key(name, "stix_objects", parent, [column], ["id"], ondelete=ondelete)
