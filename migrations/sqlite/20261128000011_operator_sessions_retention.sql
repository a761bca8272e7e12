-- Console sessions unused for longer than the longest idle timeout (a day) are removed by
-- retention, found through this index.
CREATE INDEX operator_sessions_by_last_seen ON operator_sessions (last_seen_at);
