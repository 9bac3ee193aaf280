-- A user's events by position: resuming WebSocket sessions read what their user missed.
CREATE INDEX events_owner_position ON events ((metadata->>'owner'), global_position);
