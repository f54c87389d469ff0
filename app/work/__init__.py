"""Background work as claimed rows: one row per unit of work, held under a lease.

A kind of work (the reconciliation of a period, say) is a ``kind`` and a
``key`` unique within it; workers claim due rows, renew the lease while they
work, and finish, give back or fail them (``items``). Nothing here knows what
the work is.
"""
