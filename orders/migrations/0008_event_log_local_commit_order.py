"""Logical replication applies an event with the origin's ``transaction_id`` as data: ids of another
cluster, which the local gap-safe reader would compare with its own horizon. This trigger gives each
applied event the applying transaction's id instead. ``ENABLE REPLICA``: it fires only where
``session_replication_role = replica`` — the apply worker — so a local append pays nothing for it."""

from django.db import migrations

LOCAL_COMMIT_ORDER = """
CREATE FUNCTION event_log_local_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.transaction_id := pg_current_xact_id();
    RETURN NEW;
END;
$$;
CREATE TRIGGER event_log_local_commit_order
    BEFORE INSERT ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_local_commit_order();
ALTER TABLE event_log ENABLE REPLICA TRIGGER event_log_local_commit_order;
"""

DROP = """
DROP TRIGGER event_log_local_commit_order ON event_log;
DROP FUNCTION event_log_local_commit_order();
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0007_siteadoption")]

    operations = [migrations.RunSQL(LOCAL_COMMIT_ORDER, DROP)]
