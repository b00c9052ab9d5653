"""The database itself keeps the log append-only, and numbers orders."""

from django.db import migrations

REFUSE_CHANGES = """
CREATE FUNCTION event_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER event_log_append_only
    BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_refuse_change();
"""

ALLOW_CHANGES = """
DROP TRIGGER event_log_append_only ON event_log;
DROP FUNCTION event_log_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("orders", "0001_initial")]

    operations = [
        migrations.RunSQL(REFUSE_CHANGES, ALLOW_CHANGES),
        migrations.RunSQL("CREATE SEQUENCE order_number_seq", "DROP SEQUENCE order_number_seq"),
    ]
