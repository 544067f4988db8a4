"""The Textual terminal UI that follows or replays a run's trace."""
