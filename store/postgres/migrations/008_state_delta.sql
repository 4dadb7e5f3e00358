-- The world state is no longer rewritten in full with every turn: state
-- holds a base, the full state after some turn, tagged state_tag; most
-- turns write only state_delta, the state after the head encoded against
-- that base (see store/postgres/statedelta.go). A row without a delta
-- (every row written before this version among them) has the head's state
-- in state itself.

alter table simulations
	add column state_tag   bigint,
	add column state_delta bytea;

---- create above / drop below ----

alter table simulations drop column state_delta, drop column state_tag;
