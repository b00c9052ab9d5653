"""Who may see backups and erase customer data (SPEC §5: managers). Autodiscovered by django-rules."""

import rules

from orders.rules import is_manager

# The admin: the app's module permission (a bare app label) and read-only access to backup records.
rules.add_perm("recovery", is_manager)
rules.add_perm("recovery.view_backuprecord", is_manager)
