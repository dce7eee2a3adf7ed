-- Indexes for the web's "recently closed" panel and the live-update poller.
CREATE INDEX ceremonies_status_closed ON ceremonies (status, closed_at DESC);
--bun:split
CREATE INDEX ceremonies_updated ON ceremonies (updated_at);
