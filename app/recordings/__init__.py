"""A recording's life: its rows, its states and the moves between them.

Everything that creates, queues or moves a recording goes through here:
the webhook and reconciliation report what a provider says
(``record_report``), the CLI and the admin put recordings back in the queue
(``queue``), the worker claims and settles them (``queue``), and the pages
read them (``queries``).
"""
