"""``lock_personal_data(customer)``: the shared side of a customer's personal-data lock, and whether
their personal data may still be written.

Every writer of a customer's personal data (a new data key, an idempotency record holding their
address) calls it in the statement it sends anyway; an erasure takes the same advisory lock
exclusively (``recovery.personal_data.PERSONAL_DATA_LOCK``), so it waits for every writer in flight
and every later writer waits for it.

Why a function: a statement's snapshot is taken before it runs, so a statement that waits for the
erasure's lock and then checks for the tombstone would not see the erasure that just committed. In a
VOLATILE PL/pgSQL function each query takes a new snapshot (READ COMMITTED), so the check after the
lock sees it.
"""

from django.db import migrations

# PERSONAL_DATA_LOCK (0x6572) and the customer id folded into the lock's second 32-bit key.
CREATE = """
CREATE FUNCTION lock_personal_data(customer bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(25970, (customer % 2147483648)::integer);
    RETURN NOT EXISTS (
        SELECT 1 FROM recovery_datakey WHERE customer_id = customer AND erased_at IS NOT NULL
    );
END
$$
"""

# Before writers took the lock, a writer racing an erasure could add a key beside the tombstone, and it
# stayed wrapped by the master key (the application read it as erased; the table and backups held it).
SHRED_LEFTOVER_KEYS = """
UPDATE recovery_datakey AS k SET wrapped_key = NULL, master_key_id = '', erased_at = now()
WHERE k.wrapped_key IS NOT NULL
  AND EXISTS (SELECT 1 FROM recovery_datakey t WHERE t.customer_id = k.customer_id AND t.erased_at IS NOT NULL)
"""


class Migration(migrations.Migration):
    dependencies = [("recovery", "0001_initial")]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION lock_personal_data(bigint)"),
        migrations.RunSQL(SHRED_LEFTOVER_KEYS, reverse_sql=migrations.RunSQL.noop),
    ]
