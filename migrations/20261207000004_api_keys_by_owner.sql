-- A user's API keys, counted from the log when a new one is asked for (the per-user limit holds
-- however far the keys' read model lags).
CREATE INDEX events_api_keys_by_owner ON events ((metadata->>'owner'))
    WHERE event_type = 'apikey.created';
