"""What other apps hear from approvals: an approval revoked (its candidate must stop taking traffic)."""

from django.dispatch import Signal

# Sent inside the revoking transaction, with `approval` (the approval revoked) and `record` (the revocation).
approval_revoked = Signal()
