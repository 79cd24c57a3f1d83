"""The HTTP API: enqueue and follow tasks (see `app.create_app`)."""
