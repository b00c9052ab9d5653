"""Pilot light: a warm standby on PostgreSQL streaming replication, and a failover drill that measures it.

``python -m standby.drill`` (``make standby-drill``) builds a primary and a ``pg_basebackup -R`` standby
on loopback ports, runs the platform (web + Celery worker and beat) against a multi-host
``DATABASE_URL``, kills the primary with SIGKILL under a write load, promotes the standby and prints
RTO/RPO as JSON. Nothing here imports Django: the drill drives the platform from the outside, through
its processes, its HTTP API and the database. The runbook is docs/disaster-recovery.md.
"""
