-- Pending actions get an id, so that a turn removes the actions it played
-- and no other (an action accepted meanwhile for the same turn stays).

alter table pending_actions add column id text not null default '';

---- create above / drop below ----

alter table pending_actions drop column id;
