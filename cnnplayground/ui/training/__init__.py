"""Training in the app: settings, the background worker and session (``worker``), live plots, after-epoch views."""
