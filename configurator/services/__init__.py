"""Services: the operations the CLI, the API and the jobs share. They take a session and never commit."""
