-- A stored scenario's uploader, who may delete it and in whose quota it
-- counts, and a revision that changes whenever an id is stored anew, so
-- the summaries a node derives from scenarios can be cached by id and rev.

alter table scenarios
	add column owner text not null default '',
	add column rev   bigserial;

create index scenarios_owner on scenarios (owner);

---- create above / drop below ----

drop index scenarios_owner;
alter table scenarios drop column rev, drop column owner;
