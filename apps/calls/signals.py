from django.dispatch import Signal

# Sent after the transaction that stored new calls commits, with `project_id`. Later steps (task
# assignment) listen, so capture needs to know nothing about them.
calls_stored = Signal()

# Sent after stored calls changed cost (a re-pricing job), with `project_ids`: cached statistics refresh.
call_costs_changed = Signal()
