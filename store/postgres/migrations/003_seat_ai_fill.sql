-- A seat's holder may let the built-in decider play the character on
-- turns they send no action for; by default the character holds.

alter table seats add column ai_fill boolean not null default false;

---- create above / drop below ----

alter table seats drop column ai_fill;
