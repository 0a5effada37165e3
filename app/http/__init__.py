"""HTTP plumbing shared by routes: client addresses, JSON responses."""
