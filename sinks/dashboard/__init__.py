"""The operations dashboard: a live alert board for officers and operations staff.

Its own process (``cargowatch dashboard``) or a task in another one::

    runner = await start_dashboard(settings, port=8089)   # board rebuilt from the topics
    ...
    await runner.cleanup()

See web.py for routes and security, feed.py for how the board follows Kafka, board.py for
what it shows, users.py for accounts.
"""

from sinks.dashboard.users import UserFileError, add_user
from sinks.dashboard.web import dashboard_url, start_dashboard, users_path

__all__ = ["UserFileError", "add_user", "dashboard_url", "start_dashboard", "users_path"]
