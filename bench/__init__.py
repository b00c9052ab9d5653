"""``make bench``: the platform's speed, measured against baselines in the same run (SPEC §9).

``python -m bench`` (see ``bench/run.py``) starts what it needs, runs the phases in ``bench/phases/`` as
separate processes against throw-away databases, and writes ``bench/results/``.
"""
