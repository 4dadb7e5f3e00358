-- Audience votes: whether a story lets its watchers vote on its twists
-- (and those not signed in), how long each vote stays open (0: the
-- server's default), and the vote opened last as sent to watchers
-- (JSON), so any node can show an open vote to a watcher who arrives.

alter table simulations
	add column audience_votes  boolean not null default false,
	add column anonymous_votes boolean not null default false,
	add column vote_window_ms  integer not null default 0,
	add column vote            bytea;

---- create above / drop below ----

alter table simulations drop column vote, drop column vote_window_ms,
	drop column anonymous_votes, drop column audience_votes;
