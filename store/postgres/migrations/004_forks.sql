-- Forks: a story started from another's turn. Its parent and the turn it
-- left it at, and the seeds its inherited turns were played with (JSON,
-- store.SeedSpan), so it replays even when its parent is gone.

alter table simulations
	add column parent    text not null default '',
	add column forked_at bigint not null default 0,
	add column lineage   bytea;

create index simulations_forks on simulations (parent, created_at, id) where parent <> '';

---- create above / drop below ----

drop index simulations_forks;
alter table simulations drop column lineage, drop column forked_at, drop column parent;
