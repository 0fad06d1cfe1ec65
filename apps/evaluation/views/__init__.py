"""The task's evaluation report (report.py) and starting or cancelling an evaluation from it (start.py)."""
