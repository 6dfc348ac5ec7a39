"""Training in the app: settings, the background worker, live plots, after-epoch views."""
